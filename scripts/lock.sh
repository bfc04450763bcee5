#!/usr/bin/env bash
# Regenerate requirements.lock: every package of the development environment (pyproject.toml with
# the test, dev, ray and train extras), at exact versions with their hashes, for CPython 3.11 on
# x86-64 Linux, with torch held to the CPU wheel by constraints.txt.
#
#     bash scripts/lock.sh             # resolve anew: the newest releases the ranges admit
#     bash scripts/lock.sh --check     # fail if requirements.lock is not what pyproject.toml resolves to today
#
# uv resolves (it targets a platform and Python other than the running one, and is fast); it is
# installed at a pinned version into a throwaway venv. Then run `bash setup.sh` and the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.10
tool=$(mktemp -d)
trap 'rm -rf "$tool"' EXIT
python3 -m venv "$tool/venv"
"$tool/venv/bin/pip" install -q "uv==$UV_VERSION" 2> >(grep -v "is ignored" >&2)
# The CPU build of torch is a local version (2.13.0+cpu) served from PyTorch's CPU index; where pip
# is configured with a local folder of wheels (find-links), uv is given the same folder.
sources=()
for folder in $(python3 -m pip config get global.find-links 2>/dev/null || true) ${PIP_FIND_LINKS:-}; do
    [ -d "$folder" ] && sources+=(--find-links "$folder")
done
[ ${#sources[@]} -gt 0 ] || sources=(--extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match)
out=requirements.lock
[ "${1:-}" = "--check" ] && out="$tool/requirements.lock"
"$tool/venv/bin/uv" pip compile pyproject.toml --extra test --extra dev --extra ray --extra train \
    --constraint constraints.txt "${sources[@]}" \
    --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
    --generate-hashes --custom-compile-command "bash scripts/lock.sh" --quiet --output-file "$out"
if [ "${1:-}" = "--check" ]; then
    diff -u requirements.lock "$out" && echo "requirements.lock is current"
fi
