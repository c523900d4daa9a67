#!/usr/bin/env bash
# Release check: build the sdist and wheel, check the wheel's contents, install the wheel into a fresh
# venv and run the quick start from outside the repository (so the installed package is what runs).
#
# Usage: .ci/wheel_check.sh [--index] [PYTHON]   (default: python3)
#
# By default the fresh venv gets the wheel alone (--no-deps) and sees the wheel's declared runtime
# dependencies, and only those, as symlinks into PYTHON's environment (.ci/link_runtime_deps.py): a
# second copy of a CUDA build of torch is several GB, which a CI machine may not have. --index
# installs the dependencies from the package index instead (network or a local index; pip's usual
# configuration applies), as a release check on a machine with room to spare.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEPS=link
if [ "${1:-}" = "--index" ]; then
  DEPS=index
  shift
fi
PYTHON="${1:-python3}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "== build sdist and wheel"
"$PYTHON" -m venv "$WORK/build-venv"
"$WORK/build-venv/bin/python" -m pip install --quiet --upgrade pip build
"$WORK/build-venv/bin/python" -m build --outdir "$WORK/dist" "$ROOT"
WHEEL=$(ls "$WORK"/dist/videoattr-*.whl)
echo "built $(basename "$WHEEL")"

echo "== wheel contents"
"$WORK/build-venv/bin/python" - "$WHEEL" <<'PY'
import sys
import zipfile

names = set(zipfile.ZipFile(sys.argv[1]).namelist())
required = [
    "videoattr/__init__.py",
    "videoattr/py.typed",
    "videoattr/assets/demo_model.pt",
    "videoattr/methods/extremal/__init__.py",
    "videoattr/core/native_kernels.cpp",
]
missing = [n for n in required if n not in names]
if missing:
    sys.exit(f"the wheel lacks {missing}")
stray = sorted(n for n in names if n.startswith(("tests/", "examples/", "docs/", "benchmarks/")))
if stray:
    sys.exit(f"the wheel should not ship {stray[:5]}")
entry = [n for n in names if n.endswith("entry_points.txt")]
if not entry:
    sys.exit("the wheel has no entry_points.txt (the videoattr command)")
print(f"ok: {len(names)} files, demo model and py.typed included")
PY

echo "== install the wheel into a fresh venv"
if [ "$DEPS" = index ]; then
  "$PYTHON" -m venv "$WORK/venv"
  "$WORK/venv/bin/python" -m pip install --quiet --upgrade pip
  "$WORK/venv/bin/python" -m pip install --no-cache-dir "$WHEEL"
  "$WORK/venv/bin/python" -m pip check
else
  # No pip or setuptools of its own in the venv: PYTHON's pip installs into it (--python), so that
  # nothing but the wheel and the linked dependencies is there to import.
  "$PYTHON" -m venv --without-pip "$WORK/venv"
  "$PYTHON" "$ROOT/.ci/link_runtime_deps.py" "$WHEEL" "$WORK/deps"
  SITE=$("$WORK/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$WORK/deps" >"$SITE/_runtime_deps.pth"
  "$PYTHON" -m pip --python "$WORK/venv/bin/python" install --quiet --no-deps --no-cache-dir "$WHEEL"
  "$PYTHON" -m pip --python "$WORK/venv/bin/python" check
fi

echo "== run the quick start from the installed wheel, outside the repository"
mkdir "$WORK/run"
cp "$ROOT/examples/quickstart.py" "$WORK/run/"
cd "$WORK/run"
"$WORK/venv/bin/python" - "$WORK/venv" <<'PY'
import sys
from pathlib import Path

import videoattr

where = Path(videoattr.__file__).resolve()
assert where.is_relative_to(Path(sys.argv[1]).resolve()), f"videoattr imported from {where}"
print("videoattr", videoattr.__version__, "from", where)
PY
"$WORK/venv/bin/python" -c "from videoattr.core import native; print(native.status())"
"$WORK/venv/bin/python" quickstart.py --out quickstart_out --iterations 20
test -s quickstart_out/step.png
"$WORK/venv/bin/videoattr" --version
"$WORK/venv/bin/videoattr" models >/dev/null
echo "wheel check passed"
