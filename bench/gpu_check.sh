#!/usr/bin/env bash
# Every GPU figure of the project in one command, into one JSON: $OUT/gpu_check.json (else ./gpu_check_out/).
# The first thing to run when a GPU machine is at hand: no network needed, nothing downloaded, at most 8 minutes
# (--budget SECONDS to change). --tiny: the same steps on the CPU with tiny sizes (the test of this script).
# Python: $PYTHON if set, else the project's .venv, else python3 on the PATH. Steps: bench/gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" bench/gpu_check.py "$@"
