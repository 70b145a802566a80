#!/usr/bin/env bash
# mmvlpuda GPU check: benchmarks (rst_step, train_step on the device) and a
# short real-size training of one config per family on generated data, one
# summary table. Run from anywhere; arguments go to benchmarks/gpu_check.py:
#   bash benchmarks/gpu_check.sh [--device cuda] [--out DIR] [--amp]
#   bash benchmarks/gpu_check.sh --device cpu --quick --out /tmp/gc  # dry run
# PY selects the interpreter (default: .venv/bin/python, else python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export HF_HUB_OFFLINE=1 PYTHONWARNINGS=ignore::FutureWarning
{ nvidia-smi 2>/dev/null || true; } | head -15
exec "$PY" benchmarks/gpu_check.py "$@"
