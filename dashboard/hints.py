"""What to run when there is nothing to show: the first-run commands, printed by every page without runs.

Pure (no Streamlit); tests/test_app_ux.py runs the commands exactly as :func:`first_run_commands` prints them.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from dashboard.data import REPO_ROOT

# a twentieth of CH-SIMS (68/23/23 samples): seconds to write and to train with the tiny preset on one thread
SMALL_DATA = REPO_ROOT / "data" / "sims-small.pkl"


def first_run_commands(runs_root: str | Path, data_path: str | Path = SMALL_DATA) -> list[str]:
    """Shell commands that make a small synthetic dataset and train a tiny run into ``runs_root/my-run``; run in
    order from any folder (absolute, quoted paths), they leave a run the dashboard lists."""
    data = shlex.quote(str(Path(data_path).expanduser().resolve()))
    out = shlex.quote(str((Path(runs_root).expanduser() / "my-run").resolve()))
    return [
        f"python -m selfmm synth --profile sims --scale 0.05 --out {data}",
        f"python -m selfmm train --data {data} --preset tiny --threads 1 --out {out}",
    ]


def first_run_text(runs_root: str | Path) -> str:
    """The commands of :func:`first_run_commands` as one shell block (for ``st.code``)."""
    return "\n".join(first_run_commands(runs_root))
