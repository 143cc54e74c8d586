#!/usr/bin/env bash
# Wheels for the lent GPU machine (Python 3.12, no network), for benchmarks/cuda_check.py.
#
# Its image holds torch, torchvision, numpy, tqdm, pillow, matplotlib, pandas, pytest, hypothesis,
# PyYAML and packaging, but not coinfer's other runtime needs (thop, constriction, dahuffman) nor
# optuna and its own (the paper smoke test runs `python -m coinfer search`). This downloads those,
# at the versions this checkout's .venv runs (what CI tests), into .whl/ (ignored by git):
#
#     tools/device_wheels.sh                 # here, where pip reaches the package registries
#
# and the device call carries `.whl` and begins with
#
#     python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
#         --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 || exit;
#     export COINFER_COMMIT=<the 40-digit commit you are running, committed before the call>;
#     python3 benchmarks/cuda_check.py --out $OUT/cuda_check_gpu.json
#
# (The machine's copy of the working tree keeps the session's first commit as its git metadata, so
# without COINFER_COMMIT a report names that commit "+dirty"; coinfer.results_origin.COMMIT_ENV.)
#
# If that call stops at its limit, copy the report it left to data/results/benchmarks/ and let the
# next call (the same first line) run the rest: `python3 benchmarks/cuda_check.py --resume
# data/results/benchmarks/cuda_check_gpu.json --out $OUT/cuda_check_gpu.json`. With a report already
# committed, resume it and name the checks to measure again (benchmarks/cuda_check.py's docstring
# gives the next session's command: `--rerun data_path --compile`).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
names=(thop constriction dahuffman optuna alembic colorlog Mako SQLAlchemy)
pins=()
for name in "${names[@]}"; do
    version=$("$python" -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p')
    [ -n "$version" ] || { echo "$name is not installed in $python's environment: pip install -e '.[test]' first" >&2; exit 1; }
    pins+=("$name==$version")
done
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo '/.whl/' >> .git/info/exclude; }
rm -rf .whl
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${pins[@]}"
ls .whl
du -sh .whl
