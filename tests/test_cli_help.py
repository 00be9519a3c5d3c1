"""Issue 11 item 15: the CLI's help says what every option and --set key means."""

from __future__ import annotations

import dataclasses

import pytest

from selfmm.cli_help import config_keys
from selfmm.config import LABEL_SOURCES, SelfMMConfig


def _help(main, capsys) -> str:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    return capsys.readouterr().out


def test_every_set_key_is_listed_with_a_meaning(capsys):
    from selfmm.train import train_parser

    keys = config_keys()
    assert [k for k, _, _ in keys] == [f.name for f in dataclasses.fields(SelfMMConfig)]
    assert all(text for _, _, text in keys), [k for k, _, t in keys if not t]
    text = " ".join(train_parser("python -m selfmm train").format_help().split())
    for key, default, _ in keys:
        assert f"{key} ({default})" in text
    assert "H (1.0): generated labels are clamped to [-H, H]" in text


def test_seeds_experiment_and_project_help(capsys):
    from selfmm.experiment import main as experiment_main
    from selfmm.experiment import seeds_main
    from selfmm.projection import main as project_main
    from selfmm.train import train_parser

    seeds = " ".join(_help(seeds_main, capsys).split())
    train_desc = train_parser("x").description
    assert train_desc not in seeds and "mean ± std" in seeds
    exp = " ".join(_help(experiment_main, capsys).split())
    assert all(src in exp.split("--variants VARIANTS ", 1)[1][:200] for src in LABEL_SOURCES)
    proj = " ".join(_help(project_main, capsys).split())
    assert "a run folder with recorded representations" in proj and "random seed of the UMAP fit" in proj


def test_project_reports_progress(tmp_path, capsys):
    """Issue 11 item 14: `project` says what it is doing before the (slow) fits, not only at the end."""
    from selfmm.projection import main as project_main
    from selfmm.testing import write_fake_run

    run = write_fake_run(tmp_path / "r", n=(20, 8, 8), epochs=2, representation_epochs=(1, 2), seed=1)
    assert project_main([str(run), "--method", "pca"]) == 0
    out = capsys.readouterr().out.splitlines()
    fits = [line for line in out if line.startswith("selfmm project: fitting PCA")]
    assert len(fits) == 5 and "1/5 (M) on epoch 2: 36 samples" in fits[0]  # M, T, A, V, all
    assert [line for line in out if "projecting epoch" in line] == [
        "selfmm project: projecting epoch 1 (1/2)",
        "selfmm project: projecting epoch 2 (2/2)",
    ]
    assert out[-1].endswith(" s") and "pca.parquet: 2 epochs" in out[-1]
