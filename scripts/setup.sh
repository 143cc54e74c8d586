#!/usr/bin/env bash
# Set up this checkout for coinfer: system packages (Debian/Ubuntu), then the Python package with
# its [book,test] extras. Idempotent; `make book` and `make test` call it when pyproject.toml changes.
#
#   bash scripts/setup.sh            # or PYTHON=/path/to/python bash scripts/setup.sh
#
# Python environment: an active conda env or virtualenv is used as it is; otherwise a virtualenv is
# made in .venv (with --system-site-packages, so a torch already installed system-wide is reused
# and never replaced). The interpreter chosen is written to .coinfer-python for the Makefile.
set -euo pipefail
cd "$(dirname "$0")/.."

# 1. System packages: Fashion-MNIST (the quick preset's data, offline) and Chromium (browser tests).
missing=()
dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || missing+=(dataset-fashion-mnist)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if ((${#missing[@]})); then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup: no apt-get here; skipping ${missing[*]} (torchvision downloads Fashion-MNIST on first use;" \
             "browser tests are skipped without Chromium)" >&2
    else
        if [ "$(id -u)" = 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo -n); else sudo=(none); fi
        if [ "${sudo[*]}" = none ]; then
            echo "setup: please run: sudo apt-get install -y ${missing[*]}  (continuing without them)" >&2
        else
            echo "setup: apt-get install ${missing[*]}"
            # A package index that cannot be refreshed (a mirror down, no network) is not fatal: the
            # install below may still succeed from the cached index, and if not, setup goes on without them.
            "${sudo[@]}" apt-get update -qq || echo "setup: apt-get update failed; trying the install with the cached index" >&2
            DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" \
                || echo "setup: apt-get could not install ${missing[*]}; continuing (see above)" >&2
        fi
    fi
fi

# 2. The Python environment.
if [ -n "${PYTHON:-}" ]; then
    py="$PYTHON"
elif [ -n "${VIRTUAL_ENV:-}" ] || [ -n "${CONDA_PREFIX:-}" ]; then
    py="$(command -v python)"
else
    if [ ! -x .venv/bin/python ]; then
        echo "setup: creating .venv (reusing system-wide packages such as torch)"
        python3 -m venv --system-site-packages .venv
    fi
    py="$PWD/.venv/bin/python"
fi
"$py" -c 'import sys; assert sys.version_info >= (3, 10), "coinfer needs Python >= 3.10, this is " + sys.version'
echo "setup: pip install -e .[book,test] with $py"
# --no-compile: pip would byte-compile every file of every package (a third of this step's time); Python
# compiles a module when it is first imported instead, and only the ones that are. Not where Python keeps
# no bytecode (PYTHONDONTWRITEBYTECODE, common in containers): there every process would compile torch's
# Python again (importing torch, coinfer, matplotlib and pandas: about 4 s from bytecode, 9 s without),
# so pip compiles it once here.
compile=--no-compile
if "$py" -c 'import sys; sys.exit(not sys.dont_write_bytecode)'; then
    compile=--compile
fi
"$py" -m pip install -q "$compile" --disable-pip-version-check -e ".[book,test]"
"$py" -c 'import coinfer, sys; print("setup: coinfer", coinfer.__version__, "from", coinfer.__file__, "python", sys.version.split()[0])'
echo "$py" > .coinfer-python
