#!/usr/bin/env bash
# The GPU check of issue 11: installs torch (CUDA build) and nvdiffrast in a separate venv, runs the
# parity test of the CPU renderer against nvdiffrast and of a whole reconstruction on cuda vs cpu, and
# times the astronaut's reconstruction on the GPU and on the CPU.
#
# STATUS: prepared, NOT YET RUN ON A GPU. Until it has passed on one, the docs say "GPU path
# implemented, not yet verified on a GPU".
#
# Usage (from anywhere; on a Linux x86-64 machine with an NVIDIA GPU, its driver, and PyPI reachable
# through pip - nothing else from outside is needed):
#   bash bench/gpu_check.sh                    # install + parity + timing
#   bash bench/gpu_check.sh parity timing      # again, without reinstalling
# Environment: FFHQUV_GPU_VENV (default .venv-gpu), PYTHON (default python3.11, else python3),
#   OUT (where the logs and gpu_check.json go; default bench_out/gpu_check), TIMING_RUNS (default 3).
# Exit status: 0 only when every step ran and the parity tests passed (none skipped).
#
# nvdiffrast is not on PyPI under its own name. The PyPI distribution "diffrp-nvdiffrast" 0.3.3.1 is
# NVlabs' nvdiffrast 0.3.3 source repackaged (it installs the same "nvdiffrast" package; NVIDIA Source
# Code License, non-commercial: a local test tool here, never a dependency of the engine). It compiles
# its CUDA extension with torch.utils.cpp_extension at first use, which needs a host C++ compiler,
# ninja, and nvcc + the CUDA headers: the system toolkit when there is one (CUDA_HOME or nvcc on PATH),
# else the matching NVIDIA toolkit wheels from PyPI, laid out as a CUDA_HOME inside the venv.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${FFHQUV_GPU_VENV:-.venv-gpu}
PY=${PYTHON:-python3.11}
OUT=${OUT:-bench_out/gpu_check}
TIMING_RUNS=${TIMING_RUNS:-3}
TORCH_VERSION=2.13.0
NVDIFFRAST_SPEC="diffrp-nvdiffrast==0.3.3.1"
mkdir -p "$OUT"
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(install parity timing)

say() { echo "gpu_check: $*"; }
die() { echo "gpu_check: FAILED: $*" >&2; exit 1; }
vpy() { "$VENV/bin/python" "$@"; }
pip_q() { vpy -m pip install -q --disable-pip-version-check "$@"; }

prerequisites() {
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader ||
    say "warning: no nvidia-smi (is the NVIDIA driver installed?)"
  command -v "$PY" >/dev/null || PY=python3
  command -v "$PY" >/dev/null || die "no python3 (Debian: apt-get install python3.11 python3.11-venv)"
  "$PY" -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 12))' ||
    die "$PY is not Python 3.10-3.12 (mediapipe 0.10.21 and numpy 1.26 need one; set PYTHON=)"
  "$PY" -c 'import ensurepip, venv' 2>/dev/null || die "$PY cannot create venvs (Debian: apt-get install python3-venv)"
  command -v c++ >/dev/null || command -v g++ >/dev/null ||
    die "no C++ compiler: nvdiffrast builds its CUDA extension at first use (Debian: apt-get install g++)"
}

# A CUDA_HOME for torch.utils.cpp_extension: the system toolkit, else NVIDIA's wheels for torch's CUDA.
cuda_home() {
  if [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then echo "$CUDA_HOME"; return; fi
  if command -v nvcc >/dev/null; then dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")"; return; fi
  local home="$VENV/cuda-home" cuda major
  if [ ! -x "$home/bin/nvcc" ]; then
    cuda=$(vpy -c 'import torch; print(torch.version.cuda or "")')
    [ -n "$cuda" ] || die "torch $TORCH_VERSION here is not a CUDA build"
    major=${cuda%%.*}
    say "no system nvcc: installing NVIDIA's CUDA $cuda compiler wheels from PyPI" >&2
    if [ "$major" = 12 ]; then
      pip_q "nvidia-cuda-nvcc-cu12==$cuda.*" "nvidia-cuda-runtime-cu12==$cuda.*" "nvidia-cuda-cccl-cu12==$cuda.*" >&2
    else
      pip_q "nvidia-cuda-nvcc==$cuda.*" "nvidia-cuda-crt==$cuda.*" "nvidia-nvvm==$cuda.*" \
            "nvidia-cuda-runtime==$cuda.*" "nvidia-cuda-cccl==$cuda.*" >&2
    fi
    # One tree as nvcc and cpp_extension expect it: bin/ (copied, so nvcc finds ../nvvm and ../include
    # here), include/, lib64/ (with the unversioned libcudart.so the linker asks for), nvvm/.
    vpy - "$home" <<'EOF' >&2
import os, shutil, sys
from pathlib import Path
import nvidia
home = Path(sys.argv[1])
for sub in ("bin", "include", "lib64", "nvvm"):
    (home / sub).mkdir(parents=True, exist_ok=True)
for root in map(Path, nvidia.__path__):
    for pkg in sorted(p for p in root.iterdir() if p.is_dir()):
        for src_name, dst_name in (("bin", "bin"), ("include", "include"), ("lib", "lib64"), ("nvvm", "nvvm")):
            src = pkg / src_name
            if not src.is_dir():
                continue
            for item in src.iterdir():
                dst = home / dst_name / item.name
                if dst.exists() or dst.is_symlink():
                    continue
                if src_name == "bin" and item.is_file():
                    shutil.copy2(item, dst)
                else:
                    dst.symlink_to(item.resolve())
lib = home / "lib64"
for so in sorted(lib.glob("libcudart.so.*")):
    if not (lib / "libcudart.so").exists():
        (lib / "libcudart.so").symlink_to(so.resolve())
print(f"CUDA_HOME laid out in {home}")
EOF
  fi
  readlink -f "$home"
}

install() {
  prerequisites
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  vpy -m pip install -q --disable-pip-version-check --upgrade pip
  # torch first and pinned: from PyPI on Linux x86-64 this is the CUDA build.
  pip_q "torch==$TORCH_VERSION"
  vpy -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' ||
    die "torch $TORCH_VERSION does not see a CUDA device ($(vpy -c 'import torch; print(torch.version.cuda)'))"
  pip_q -r requirements.txt
  pip_q --no-deps -r requirements-nodeps.txt
  vpy -m pip install -qq --disable-pip-version-check --no-deps -e .
  pip_q ninja "$NVDIFFRAST_SPEC"
}

NVDR_READY=0
build_nvdiffrast() {
  [ "$NVDR_READY" = 1 ] && return
  local home arch start=$SECONDS
  home=$(cuda_home)
  arch=$(vpy -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')
  # The same environment for the build and every later step (cpp_extension rebuilds when flags change).
  export CUDA_HOME="$home" PATH="$home/bin:$VENV/bin:$PATH" TORCH_CUDA_ARCH_LIST="$arch" MAX_JOBS=${MAX_JOBS:-16}
  say "building nvdiffrast's CUDA extension (CUDA_HOME=$home, arch $arch; a few minutes the first time)"
  if ! vpy -c 'import nvdiffrast, nvdiffrast.torch as dr; dr.RasterizeCudaContext(device="cuda")
print("nvdiffrast", nvdiffrast.__version__, "ready")' >"$OUT/nvdiffrast_build.log" 2>&1; then
    tail -40 "$OUT/nvdiffrast_build.log" >&2
    die "nvdiffrast did not build (log: $OUT/nvdiffrast_build.log)"
  fi
  say "nvdiffrast built and loaded in $((SECONDS - start)) s"
  NVDR_READY=1
}

parity() {
  [ -x "$VENV/bin/python" ] || die "no $VENV: run 'bash bench/gpu_check.sh install' first"
  build_nvdiffrast
  say "parity tests (FFHQUV_REQUIRE_GPU=1: a missing CUDA device or nvdiffrast fails instead of skipping)"
  local rc=0
  FFHQUV_REQUIRE_GPU=1 FFHQUV_SKIP_BLENDER_TESTS=1 vpy -m pytest -q -rs -s -p no:cacheprovider \
    tests/test_render_parity.py tests/test_runtime.py 2>&1 | tee "$OUT/parity.txt" || rc=$?
  [ "$rc" -eq 0 ] || die "parity tests failed (see $OUT/parity.txt)"
  ! grep -q " skipped" "$OUT/parity.txt" || die "some parity tests were skipped on the GPU machine"
}

timing() {
  [ -x "$VENV/bin/python" ] || die "no $VENV: run 'bash bench/gpu_check.sh install' first"
  build_nvdiffrast
  say "timing the astronaut: $TIMING_RUNS runs per device after one warm-up run each"
  vpy - "$OUT/gpu_check.json" "$TIMING_RUNS" <<'EOF'
import json, statistics, sys, time
import torch
from engine.api import ReconstructOptions, reconstruct
from tests.photos import photo_path

out, runs = sys.argv[1], int(sys.argv[2])
photo = photo_path("astronaut")
result = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "torch_cuda": torch.version.cuda,
          "cpu_threads": torch.get_num_threads(), "runs": runs, "devices": {}}
for device in ("cuda", "cpu"):
    rec = reconstruct(photo, ReconstructOptions(device=device))  # warm-up: CUDA init, model load, caches
    totals, stages = [], []
    for _ in range(runs):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        rec = reconstruct(photo, ReconstructOptions(device=device))
        if device == "cuda":
            torch.cuda.synchronize()
        totals.append(time.perf_counter() - start)
        stages.append(rec.timings)
    med = {k: statistics.median(s[k] for s in stages) for k in ("fit", "texture", "total")}
    result["devices"][device] = {"device_used": rec.device, "render_backend": rec.render_backend,
                                 "wall_s": [round(x, 3) for x in totals], "median_s": med,
                                 "landmark_error_iod": rec.fit.metrics["landmark_error_iod"]}
    print(f"{device:>4} ({rec.device}, {rec.render_backend}): total {statistics.median(totals):.2f} s "
          f"(fit {med['fit']:.2f} s, texture {med['texture']:.2f} s), landmark error "
          f"{rec.fit.metrics['landmark_error_iod']:.3%} IOD")
json.dump(result, open(out, "w"), indent=1)
print(f"written {out}")
EOF
}

for step in "${steps[@]}"; do
  case "$step" in
    install|parity|timing) "$step" ;;
    *) die "unknown step '$step' (install, parity, timing)" ;;
  esac
done
say "done: ${steps[*]}"
