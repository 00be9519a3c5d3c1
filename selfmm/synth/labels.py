"""Ground-truth labels of the synthetic clips: a Gaussian copula calibrated on the CH-SIMS v2 human labels.

``(y_M, y_T, y_A, y_V)`` come from a Gaussian copula with a "copy" and a "shrink" component, fitted once (offline,
by simulation) so that the *discretised* labels reproduce the CH-SIMS v2 human-label table
(``docs/synthetic-data.md``): value shares on the grid of fifths, Pearson matrix and modality-conflict rates.
MOSI/MOSEI reuse the same dependence with their own margins on [-3, 3].
"""

from __future__ import annotations

import math

import numpy as np

from selfmm.synth.profiles import UNI, Profile

SIMS_GRID = np.round(np.arange(-5, 6) / 5, 1)  # {-1.0, -0.8, ..., 1.0}: mean of 5 annotators choosing -1/0/+1

# Value shares of the CH-SIMS v2 human labels (sims-label-statistics.md), in SIMS_GRID order.
SIMS_SHARES = {
    "M": (0.167, 0.083, 0.102, 0.061, 0.069, 0.121, 0.058, 0.050, 0.140, 0.080, 0.069),
    "T": (0.096, 0.104, 0.111, 0.065, 0.066, 0.191, 0.058, 0.060, 0.122, 0.080, 0.047),
    "A": (0.132, 0.090, 0.099, 0.054, 0.082, 0.166, 0.082, 0.080, 0.124, 0.056, 0.035),
    "V": (0.151, 0.070, 0.087, 0.059, 0.079, 0.183, 0.051, 0.043, 0.115, 0.075, 0.087),
}

# Copula parameters fitted offline (Nelder-Mead over 200k simulated clips, loss = squared standardised errors of
# the 6 correlations, 12 per-modality conflict rates and 2 all-modality rates). Latent z ~ N(0, R) over
# (M, T, A, V); then per modality U: with prob COPY[U] z_U := z_M (the annotators agree), else with prob
# SHRINK[U] z_U := SHRINK_A * z_M + 0.3 * noise (a weaker version of M, mostly neutral), else z_U keeps its own
# correlated draw. Copy flags are correlated across modalities (equicorrelation COPY_KAPPA of their latents).
LATENT_R = np.array(
    [
        [1.0, 0.7321, 0.8535, 0.8321],
        [0.7321, 1.0, 0.6536, 0.2746],
        [0.8535, 0.6536, 1.0, 0.7386],
        [0.8321, 0.2746, 0.7386, 1.0],
    ]
)
COPY = np.array([0.3240, 0.3792, 0.2963])
COPY_KAPPA = 0.5
SHRINK = np.array([0.1526, 0.0653, 0.0541])
SHRINK_A = 0.3948


# Phi^-1(COPY): the copy flag is ``g < COPY_Z`` for a standard-normal ``g``. Stored as the fit used it (Acklam's
# rational approximation of the normal quantile, |rel err| < 1.2e-9), so that every seed keeps its exact bytes;
# tests/test_synth.py checks it against statistics.NormalDist().inv_cdf.
COPY_Z = np.array([-0.45654238409034714, -0.30758254964790777, -0.5350721030290405])


def _mosi_like_margin(profile: str) -> tuple[np.ndarray, np.ndarray]:
    """Value set and shares for MOSI/MOSEI-like labels on [-3, 3] (approximate shapes, not calibrated).

    MOSI: means of 3 or 5 annotators' integer scores, so multiples of 1/3 and 1/5, bimodal around -1.4 and +1.1,
    few exact zeros. MOSEI: means of 3 annotators (multiples of 1/3), skewed positive, about 20 % exact zeros.
    """
    if profile == "mosi":
        vals = np.unique(np.round(np.concatenate([np.arange(-9, 10) / 3, np.arange(-15, 16) / 5]), 6))
        dens = 0.43 * np.exp(-0.5 * ((vals + 1.4) / 0.8) ** 2) + 0.57 * np.exp(-0.5 * ((vals - 1.1) / 0.9) ** 2)
        dens = dens / dens.sum() * 0.97
        dens[vals == 0] += 0.03
    else:
        vals = np.round(np.arange(-9, 10) / 3, 6)
        dens = 0.35 * np.exp(-0.5 * ((vals + 1.0) / 0.7) ** 2) + 0.65 * np.exp(-0.5 * ((vals - 0.9) / 0.8) ** 2)
        dens[vals == 0] = 0.0
        dens = dens / dens.sum() * 0.8
        dens[vals == 0] = 0.2
    return vals, dens / dens.sum()


def _margins(profile: Profile) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if profile.label_range == 1.0:
        return {k: (SIMS_GRID, np.asarray(v) / np.sum(v)) for k, v in SIMS_SHARES.items()}
    vals, shares = _mosi_like_margin(profile.name)
    return {k: (vals, shares) for k in "MTAV"}


def sample_labels(profile: Profile, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw ``n`` clips' ground-truth labels ``{"M","T","A","V"} -> (n,) float32`` on the profile's value set."""
    w, vecs = np.linalg.eigh(LATENT_R)
    z = rng.standard_normal((n, 4)) @ (vecs * np.sqrt(np.clip(w, 0, None))).T  # (n, 4) ~ N(0, R)
    g = rng.standard_normal((n, 4))
    g = math.sqrt(COPY_KAPPA) * g[:, :1] + math.sqrt(1 - COPY_KAPPA) * g[:, 1:]  # (n, 3) copy latents
    u_shrink = rng.random((n, 3))
    shrink_noise = rng.standard_normal((n, 3))
    copy = g < COPY_Z
    for j in range(3):
        shrink = ~copy[:, j] & (u_shrink[:, j] < SHRINK[j] / (1 - COPY[j]))
        z[:, j + 1] = np.where(copy[:, j], z[:, 0], z[:, j + 1])
        z[:, j + 1] = np.where(shrink, SHRINK_A * z[:, 0] + 0.3 * shrink_noise[:, j], z[:, j + 1])
    out = {}
    for j, (k, (vals, shares)) in enumerate(_margins(profile).items()):
        # quantile thresholds of the target value shares under the latent's mixture margin
        nu = 0.0 if j == 0 else float(SHRINK[j - 1])
        thresholds = _mixture_quantiles(np.cumsum(shares)[:-1], nu, math.hypot(SHRINK_A, 0.3))
        out[k] = vals[np.searchsorted(thresholds, z[:, j])].astype(np.float32)
    return out


def _mixture_quantiles(p: np.ndarray, nu: float, sd: float) -> np.ndarray:
    """Quantiles of ``(1 - nu) N(0, 1) + nu N(0, sd^2)`` (the latent margin of a unimodal label), by bisection."""

    def cdf(x: float) -> float:
        return (1 - nu) * 0.5 * math.erfc(-x / math.sqrt(2)) + nu * 0.5 * math.erfc(-x / (sd * math.sqrt(2)))

    out = []
    for q in p:
        lo, hi = -10.0, 10.0
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if cdf(mid) < q else (lo, mid)
        out.append(0.5 * (lo + hi))
    return np.array(out)


# ---------------------------------------------------------------------------------------------------------------
# statistics (used by the tests and the calibration report)


def label_statistics(y: dict[str, np.ndarray]) -> dict:
    """The calibration-table statistics of labels ``{"M","T","A","V"} -> (N,)`` on [-1, 1].

    Keys: ``mean``/``std`` per modality, ``share`` (per modality, 11 values on the grid of fifths), ``corr``
    (4x4 Pearson, MTAV order), per unimodal U: ``sign_diff``, ``opposite``, ``mae``, ``agree3``; and
    ``all_agree3``, ``any_opposite3`` (shares of clips).
    """

    def c3(x):
        return np.where(x > 0.1, 1, np.where(x < -0.1, -1, 0))

    m = y["M"]
    out = {
        "mean": {k: float(np.mean(v)) for k, v in y.items()},
        "std": {k: float(np.std(v)) for k, v in y.items()},
        "share": {k: [float(np.mean(np.isclose(v, g))) for g in SIMS_GRID] for k, v in y.items()},
        "corr": np.corrcoef(np.stack([y[k] for k in "MTAV"])),
    }
    for k in UNI:
        u = y[k]
        out[k] = {
            "sign_diff": float(np.mean(np.sign(u) != np.sign(m))),
            "opposite": float(np.mean(u * m < 0)),
            "mae": float(np.mean(np.abs(u - m))),
            "agree3": float(np.mean(c3(u) == c3(m))),
        }
    out["all_agree3"] = float(np.mean(np.all([c3(y[k]) == c3(m) for k in UNI], axis=0)))
    out["any_opposite3"] = float(np.mean(np.any([c3(y[k]) * c3(m) < 0 for k in UNI], axis=0)))
    return out
