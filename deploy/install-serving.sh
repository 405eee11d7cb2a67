#!/bin/sh
# Installs the Triage serving environment: a virtualenv at VENV_DIR holding the project from SOURCE_DIR with
# its `serve` extra only (FastAPI, onnxruntime, tokenizers, SQLAlchemy, the MLflow registry client). No torch,
# no transformers, no training or data extras: the serving path never imports them.
#
#   deploy/install-serving.sh VENV_DIR SOURCE_DIR
#
# The Dockerfile's build stage runs exactly this, and CI runs it too (tests/deploy/test_install_serving.py),
# then starts `triage serve` from the result: what CI checks is what the image installs.
# PYTHON picks the interpreter (default python3; the project needs 3.11). pip reads its usual settings
# (PIP_INDEX_URL, PIP_FIND_LINKS, PIP_CONSTRAINT, ...) from the environment.
set -eu

if [ "$#" -ne 2 ]; then
    echo "usage: $0 VENV_DIR SOURCE_DIR" >&2
    exit 2
fi
venv=$1
source_dir=$2
python=${PYTHON:-python3}

if [ ! -f "$source_dir/pyproject.toml" ]; then
    echo "error: $source_dir/pyproject.toml not found: SOURCE_DIR must be the project's root" >&2
    exit 2
fi

"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, not " + sys.version'
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --no-cache-dir --disable-pip-version-check "$source_dir[serve]"
"$venv/bin/python" -m pip check

# Refuse an environment that drifted: a dependency of `serve` that pulls in torch or transformers would make the
# image gigabytes larger and break the promise that serving needs no torch.
"$venv/bin/python" - <<'PY'
import importlib.util
import sys

heavy = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is not None]
if heavy:
    sys.exit(f"error: the serving environment must not hold {', '.join(heavy)}")
PY
# The CLI starts, and the app imports with what is installed: a module-level import of a package outside the
# `serve` extra fails the build here, not the container at its first start.
"$venv/bin/triage" --help > /dev/null
"$venv/bin/python" -c 'import serving.app, serving.cli'
echo "serving environment ready: $venv"
