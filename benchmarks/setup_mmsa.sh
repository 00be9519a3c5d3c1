#!/usr/bin/env bash
# Set-up for benchmarks/vs_mmsa.py (not needed by the test suite): MMSA 2.2.1 as the tests install it (--no-deps),
# plus the two packages its training path (MMSA.config, MMSA.utils) imports that requirements.txt lacks.
# MMSA's other declared dependencies (torch, transformers, numpy, pandas, scikit-learn, tqdm) are ours already.
set -euo pipefail
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
bash "$(dirname "$0")/../tests/reference_setup.sh"
python -m pip install -q "easydict==1.13" "nvidia-ml-py3==7.352.0"   # easydict: MMSA.config; pynvml: MMSA.utils
python -c "from MMSA.data_loader import MMDataLoader; from MMSA.models import AMIO; from MMSA.trains import ATIO"
echo "MMSA training path importable"
