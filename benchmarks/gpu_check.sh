#!/usr/bin/env bash
# One GPU check for issue 13 (item 5), for a borrowed CUDA machine: bare, offline, whatever python3 it has.
#   bash benchmarks/gpu_check.sh          # from the repository root; about 5-7 minutes, at most ~7.5
# Writes its log (and gpu_check.json) under $OUT when set, else /tmp/selfmm-gpu-out. Never downloads anything:
# data is synthetic (selfmm synth), the text model a random BERT-base-shaped model saved locally.
#   1. environment: python3, torch (import checked and printed), CUDA device, selfmm's imports;
#   2. selfmm, sims preset, BERT-base shape, CUDA: s/epoch and test metrics, amp=none vs amp=bf16, 3 seeds
#      (benchmarks/gpu_check.py);
#   3. MMSA 2.2.1's own trainer vs selfmm on the same GPU (benchmarks/vs_mmsa.py --device cuda), when MMSA and its
#      training-path imports are importable; otherwise selfmm only, and the log says so.
set -uo pipefail
OUT_DIR=${OUT:-/tmp/selfmm-gpu-out}
mkdir -p "$OUT_DIR"
exec > >(tee "$OUT_DIR/gpu_check.log") 2>&1
PY=${PYTHON:-python3}
WORK=/tmp/selfmm-gpu
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TQDM_DISABLE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
echo "== environment ($(date -u +%FT%TZ), $(nproc) CPUs, repo $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
echo "python: $(command -v "$PY") $("$PY" --version 2>&1)"
if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "torch: NOT importable by $PY; nothing can be timed here:"
  "$PY" -c "import torch" 2>&1 | tail -1
  exit 0
fi
"$PY" -c "import torch; c = torch.cuda.is_available(); print('torch', torch.__version__, '| CUDA build', torch.version.cuda, '| cuda available', c, '|', torch.cuda.get_device_name(0) if c else '-', '| bf16', c and torch.cuda.is_bf16_supported())"
missing=$("$PY" - <<'PYEOF'
import importlib.util as u
mods = ["numpy", "pandas", "pyarrow", "transformers", "safetensors", "tqdm"]
print(" ".join(m for m in mods if u.find_spec(m) is None))
PYEOF
)
if [ -n "$missing" ]; then
  echo "selfmm needs these, not importable here (and no network to install them): $missing. Stopping."
  exit 0
fi
if ! "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
  echo "no CUDA device visible to torch: stopping (this check is about the GPU)."
  exit 0
fi
echo
echo "== selfmm: sims preset, BERT-base shape (random), CUDA, amp=none vs amp=bf16, 3 seeds x 3 epochs"
timeout 330 "$PY" benchmarks/gpu_check.py --work "$WORK" --epochs 3 --json "$OUT_DIR/gpu_check.json"
echo "(exit $?; elapsed ${SECONDS} s)"
echo
echo "== MMSA 2.2.1's Self-MM trainer vs selfmm on this GPU (1 pair, 2 epochs each, BERT-base shape)"
if "$PY" -c "from MMSA.data_loader import MMDataLoader; from MMSA.models import AMIO; from MMSA.trains import ATIO" 2>/dev/null; then
  left=$((450 - SECONDS))
  if [ "$left" -gt 60 ]; then
    timeout "$left" "$PY" benchmarks/vs_mmsa.py --shape sims --device cuda --pairs 1 --epochs 2 \
      --text-hidden 768 --text-layers 12 --work "$WORK/vs"
    echo "(exit $?)"
  else
    echo "skipped: only ${left} s left of the 7.5-minute budget"
  fi
else
  echo "MMSA's training path is not importable here (MMSA 2.2.1 + easydict + nvidia-ml-py3; no network to install):"
  "$PY" -c "from MMSA.trains import ATIO" 2>&1 | tail -1
  echo "selfmm timed only (above)."
fi
echo "== done in ${SECONDS} s; log $OUT_DIR/gpu_check.log"
