#!/usr/bin/env bash
# Release check: build the sdist and wheel, check the wheel's contents, install the wheel into a fresh
# venv and run the quick start from outside the repository (so the installed package is what runs).
#
# Usage: .ci/wheel_check.sh [PYTHON]   (default: python3). Needs network or a local index for pip
# to install torch & co. into the fresh venv (pip's usual configuration applies).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
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
    "videoattr/methods/extremal/native_kernels.cpp",
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
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet --upgrade pip
"$WORK/venv/bin/python" -m pip install "$WHEEL"

echo "== run the quick start from the installed wheel, outside the repository"
mkdir "$WORK/run"
cp "$ROOT/examples/quickstart.py" "$WORK/run/"
cd "$WORK/run"
"$WORK/venv/bin/python" -c "import videoattr, sys; assert 'site-packages' in videoattr.__file__, videoattr.__file__; print('videoattr', videoattr.__version__, 'from', videoattr.__file__)"
"$WORK/venv/bin/python" -c "from videoattr.methods.extremal import native; print(native.status())"
"$WORK/venv/bin/python" quickstart.py --out quickstart_out --iterations 20
test -s quickstart_out/step.png
"$WORK/venv/bin/videoattr" --version
"$WORK/venv/bin/videoattr" models >/dev/null
echo "wheel check passed"
