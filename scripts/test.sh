#!/usr/bin/env bash
# Set up a fresh machine and run the whole test suite (the README's test command; CI runs exactly this).
#  - Python packages from requirements.txt (runtime; torch is pinned to the CPU build 2.13.0) and
#    requirements-test.txt (test tools), selfmm in editable mode;
#  - the reference package MMSA 2.2.1 for the equivalence tests (tests/reference_setup.sh);
#  - Debian's chromium and a CJK font for the browser tests (needs root or sudo; skipped if already present).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

python -m pip install -q -r requirements.txt -r requirements-test.txt
python -m pip install -q --no-deps -e .
bash tests/reference_setup.sh

need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
fc-list :lang=zh 2>/dev/null | grep -q . || need_apt+=(fonts-wqy-microhei)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

ruff check .
ruff format --check .
python -m pytest -q "$@"
