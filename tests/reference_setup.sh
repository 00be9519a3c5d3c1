#!/usr/bin/env bash
# Install what tests/test_reference_equivalence.py needs: the authors' reference package MMSA 2.2.1 (PyPI, MIT).
#
# --no-deps on purpose: MMSA's declared dependencies would pull another torch build and legacy packages
# (pytorch_transformers via its model zoo, pynvml). The equivalence test never imports the MMSA package
# __init__; it loads only trains/multiTask/SELF_MM.py and utils/metricsTop.py by file location, whose imports
# (numpy, torch, tqdm, scikit-learn) are already in requirements.txt.
set -euo pipefail
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
if python -c "import importlib.metadata as m, sys; sys.exit(m.version('MMSA') != '2.2.1')" 2>/dev/null; then
  echo "MMSA 2.2.1 already installed"
else
  python -m pip install -q --no-deps "MMSA==2.2.1"
fi
# The two modules the test loads import these; fail here (not in the test) if one is missing.
python -c "import numpy, torch, tqdm, sklearn.metrics"
