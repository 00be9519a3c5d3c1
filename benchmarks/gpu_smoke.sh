#!/usr/bin/env bash
# The product's CUDA paths end to end, for a borrowed GPU machine (bare, offline; whatever python3 it has):
#   bash benchmarks/gpu_smoke.sh              # about 2 minutes on a GPU; DEVICE=cpu runs the same steps on the CPU
# Each step prints OK or FAILED with the tail of its log: train with the tiny preset's records (representations,
# PCA projection), resume, the run read back on the CPU (the dashboard's loader, the weights), seeds, amp=bf16,
# CMC. The first GPU check found that no run could be saved on CUDA (cuDNN's flattened LSTM weights); this is the
# net for that kind of bug. Logs are kept under $OUT (when set) or /tmp/selfmm-gpu-smoke.
set -uo pipefail
DEV=${DEVICE:-cuda}
PY=${PYTHON:-python3}
W=/tmp/selfmm-gpu-smoke
LOGS=${OUT:-$W}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TQDM_DISABLE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
rm -rf "$W"
mkdir -p "$W" "$LOGS"
fails=0
step() {
  local name=$1 t=$SECONDS
  shift
  if "$@" >"$LOGS/smoke-$name.log" 2>&1; then
    echo "OK     $name ($((SECONDS - t)) s)"
  else
    echo "FAILED $name ($((SECONDS - t)) s):"
    tail -6 "$LOGS/smoke-$name.log"
    fails=$((fails + 1))
  fi
}
echo "== selfmm smoke on $DEV: $("$PY" -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA")')"
step synth "$PY" -m selfmm synth --profile sims --scale 0.05 --text-dim 8 --out "$W/sims.pkl"
step train "$PY" -m selfmm train --data "$W/sims.pkl" --preset tiny --device "$DEV" --out "$W/run" --set max_epochs=2
step resume "$PY" -m selfmm train --data "$W/sims.pkl" --preset tiny --device "$DEV" --out "$W/run" --resume
step read-back "$PY" - "$W/run" <<'PYEOF'
import sys
from pathlib import Path

import torch

from selfmm.checkpoint import load_module
from selfmm.config import preset
from selfmm.data import load_mmsa
from selfmm.model import SelfMM
from selfmm.runs.reader import RunReader

run = Path(sys.argv[1])
r = RunReader(run)
m = r.metrics()
last = int(m.epoch.max())
print("epochs", sorted(set(m.epoch)), "| representations of epoch", last, sorted(r.representations(last)),
      "| projections", r.projection_methods())
data = load_mmsa(run.parent / "sims.pkl", dataset="sims")
model = SelfMM(preset("tiny"), data.feature_dims)  # CPU
load_module(model, run / "weights" / "best" / "model.safetensors")
print("best weights load on the CPU:", sum(p.numel() for p in model.parameters()), "parameters")
try:
    sys.path.insert(0, ".")
    from dashboard.data.rundata import load_run

    d = load_run(run)
    print("dashboard load_run:", type(d).__name__)
except ModuleNotFoundError as err:  # streamlit/plotly are not on every GPU image
    print("dashboard loader not importable here:", err)
assert torch.isfinite(torch.tensor(m["loss"].to_numpy(dtype=float))).all()
PYEOF
step seeds "$PY" -m selfmm seeds --data "$W/sims.pkl" --preset tiny --device "$DEV" --out "$W/seeds" --seeds 1,2 \
  --engine local --set max_epochs=2
step amp-bf16 "$PY" -m selfmm train --data "$W/sims.pkl" --preset tiny --device "$DEV" --out "$W/bf16" \
  --set max_epochs=2 amp=bf16
step cmc "$PY" -m selfmm cmc --data "$W/sims.pkl" --preset tiny --out "$W/cmc" --set "device=$DEV"
echo "== $fails step(s) failed; ${SECONDS} s"
