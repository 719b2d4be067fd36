"""Build the Blender extension zip: add-on + vendored engine (+ the engine's wheels). This is where the zip
an artist installs comes from (docs/ARTISTS.md § Install): run it once per platform.

    python build.py                          # CPU build for this machine's platform (linux-x64 here)
    python build.py --platform windows-x64   # another platform (needs its wheels reachable by pip)
    python build.py --platform all           # linux-x64, windows-x64 and macos-arm64, one zip each
    python build.py --cuda                   # CUDA torch instead of the CPU build (large)
    python build.py --no-wheels              # small dev zip: the engine Python comes from the preferences
    python build.py --torch-index none       # offline: torch from pip's configured indexes / find-links only

The +cpu torch wheels live on the PyTorch CPU index (``--torch-index``, default
https://download.pytorch.org/whl/cpu or ``FFHQUV_TORCH_INDEX``). It is probed first with a short timeout;
when it does not answer (offline, or a machine that reaches only PyPI) the build goes on as with
``--torch-index none`` and says so, instead of letting pip retry against it. Every zip made is listed at
the end with its size.

What goes into the zip (files at the zip root, as Blender expects):

* ``blender_manifest.toml`` — the repository's manifest plus ``platforms`` and ``wheels`` (written here,
  never into the source file);
* the add-on package ``ffhquv_blender/*`` (``__init__.py`` at the root of the zip);
* ``vendor/engine/`` — a copy of the repository's ``engine/`` package, run out of process by
  ``<Blender's python> -m engine`` with ``PYTHONPATH=vendor:<extension site-packages>``
  (see ``ffhquv_blender/engine_process.py``); plus ``ENGINE_DATA`` extra paths if the engine reads any at run time;
* ``wheels/*.whl`` — downloaded with ``pip download --only-binary :all: --python-version 3.11 --platform ...``;
  Blender installs them into ``<extensions>/.local/lib/python3.11/site-packages`` on install.
  numpy is never bundled: Blender ships numpy 1.x and the engine uses it.

CPU build: torch ``2.13.0+cpu`` (~190 MB wheel, linux) + OpenCV + MediaPipe 0.10.21 (FaceMesh models inside)
+ the pure-Python/small deps below. CUDA build (``--cuda``): PyPI's default CUDA torch 2.13.0 and its
``nvidia-*`` runtime wheels (several GB); only for linux-x64 / windows-x64.
Downloaded wheels are cached in ``wheels/<platform>-<cpu|cuda>/`` (git-ignored); zips go to ``dist/``.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ADDON_DIR = ROOT / "ffhquv_blender"
ENGINE_DIR = ROOT / "engine"
MANIFEST = ROOT / "blender_manifest.toml"
WHEEL_CACHE = ROOT / "wheels"
STAGING = ROOT / "build" / "extension"
DIST = ROOT / "dist"
PYTHON_VERSION = "3.11"

# --- What the engine imports at run time (one list; ask the engine owners before changing). ---
# Installed with their dependencies (numpy excluded: Blender provides it).
ENGINE_REQUIREMENTS: tuple[str, ...] = (
    "opencv-python-headless<4.12",
    "protobuf<5",        # mediapipe 0.10.21
    "absl-py",           # mediapipe
    "attrs",             # mediapipe
    "flatbuffers",       # mediapipe
    "matplotlib",        # imported by mediapipe.solutions' drawing utilities
    "pillow",
    "scipy",
)
# Installed without dependencies: mediapipe declares jax, jaxlib, sentencepiece, sounddevice, which
# FaceMesh never imports.
ENGINE_REQUIREMENTS_NO_DEPS: tuple[str, ...] = ("mediapipe==0.10.21",)
TORCH_VERSION = "2.13.0"
NEVER_BUNDLE = ("numpy",)
# Extra (source, destination inside the extension) paths the engine reads at run time, if any
# (e.g. shipped head-model data outside engine/). Empty until the engine owners say otherwise.
ENGINE_DATA: tuple[tuple[str, str], ...] = ()

_EXCLUDE_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
_EXCLUDE_SUFFIXES = {".pyc", ".pyo"}


@dataclass(frozen=True)
class Platform:
    """A Blender platform id and the pip ``--platform`` tags of wheels that run there."""

    blender: str
    pip_tags: tuple[str, ...]
    torch_cpu: str        # requirement for the CPU torch on this platform
    cuda: bool            # whether a CUDA build exists


PLATFORMS: dict[str, Platform] = {
    "linux-x64": Platform("linux-x64", ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                                         "manylinux_2_5_x86_64", "manylinux1_x86_64"),
                          f"torch=={TORCH_VERSION}+cpu", True),
    "windows-x64": Platform("windows-x64", ("win_amd64",), f"torch=={TORCH_VERSION}+cpu", True),
    "macos-arm64": Platform("macos-arm64", ("macosx_14_0_arm64", "macosx_13_0_arm64", "macosx_12_0_arm64",
                                           "macosx_11_0_arm64", "macosx_11_0_universal2", "macosx_10_9_universal2"),
                            f"torch=={TORCH_VERSION}", False),
}
# Where the +cpu torch wheels live. Override with --torch-index (or FFHQUV_TORCH_INDEX); "none" relies on
# pip's configured indexes / find-links only (e.g. an offline mirror that already holds the +cpu wheel).
TORCH_CPU_INDEX = os.environ.get("FFHQUV_TORCH_INDEX", "https://download.pytorch.org/whl/cpu")
NO_INDEX = "none"
INDEX_PROBE_TIMEOUT_S = 5.0
ALL_PLATFORMS = "all"


def _version() -> str:
    match = re.search(r'^version\s*=\s*"([^"]+)"', MANIFEST.read_text(encoding="utf-8"), re.M)
    if match is None:
        raise SystemExit("blender_manifest.toml has no version")
    return match.group(1)


def current_platform() -> str:
    """This machine's Blender platform id."""
    if sys.platform.startswith("linux"):
        return "linux-x64"
    if sys.platform == "win32":
        return "windows-x64"
    return "macos-arm64"


def index_answers(url: str, timeout: float = INDEX_PROBE_TIMEOUT_S) -> bool:
    """True when the package index at ``url`` answers within ``timeout`` seconds."""
    try:
        urllib.request.urlopen(url.rstrip("/") + "/torch/", timeout=timeout).close()
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return True


def resolve_torch_index(requested: str) -> str:
    """``requested`` if it answers, else ``none`` (pip's configured indexes) with a one-line message."""
    if requested == NO_INDEX or index_answers(requested):
        return requested
    print(f"build.py: the PyTorch CPU index {requested} does not answer (offline, or only PyPI reachable): "
          f"taking torch from pip's configured indexes, as with --torch-index {NO_INDEX}", flush=True)
    return NO_INDEX


def _pip_download(requirements: tuple[str, ...], dest: Path, platform: Platform, with_deps: bool,
                  extra_args: tuple[str, ...] = ()) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary", ":all:", "--python-version", PYTHON_VERSION,
           "--implementation", "cp", "--dest", str(dest), *extra_args]
    for tag in platform.pip_tags:
        cmd += ["--platform", tag]
    if not with_deps:
        cmd.append("--no-deps")
    cmd += list(requirements)
    print("+", " ".join(cmd), flush=True)
    if subprocess.run(cmd).returncode != 0:
        raise SystemExit(f"build.py: pip could not download {' '.join(requirements)} for {platform.blender} "
                         f"(see pip's message above; the +cpu torch wheels are only on the PyTorch CPU index: "
                         f"build where it is reachable, or pass --torch-index with a mirror of it)")


def download_wheels(platform: Platform, cuda: bool, torch_index: str = TORCH_CPU_INDEX) -> list[Path]:
    """Download (or reuse cached) wheels for ``platform``; returns the wheel files, numpy excluded."""
    dest = WHEEL_CACHE / f"{platform.blender}-{'cuda' if cuda else 'cpu'}"
    dest.mkdir(parents=True, exist_ok=True)
    if cuda:
        if not platform.cuda:
            raise SystemExit(f"No CUDA build of torch exists for {platform.blender}.")
        _pip_download((f"torch=={TORCH_VERSION}",), dest, platform, with_deps=True)
    else:
        use_index = "+cpu" in platform.torch_cpu and torch_index and torch_index != NO_INDEX
        extra = ("--extra-index-url", torch_index) if use_index else ()
        _pip_download((platform.torch_cpu,), dest, platform, with_deps=True, extra_args=extra)
    # Resolve against Blender's numpy 1.x (the numpy wheel itself is dropped below).
    _pip_download((*ENGINE_REQUIREMENTS, "numpy<2"), dest, platform, with_deps=True)
    _pip_download(ENGINE_REQUIREMENTS_NO_DEPS, dest, platform, with_deps=False)
    wheels = sorted(dest.glob("*.whl"))
    keep = [w for w in wheels if not any(w.name.lower().startswith(f"{n}-") for n in NEVER_BUNDLE)]
    _check_single_versions(keep)
    return keep


def _check_single_versions(wheels: list[Path]) -> None:
    """Blender refuses two versions of one package; a stale cache must be cleared by hand."""
    seen: dict[str, str] = {}
    for wheel in wheels:
        name = wheel.name.split("-")[0].lower().replace("_", "-")
        if name in seen:
            raise SystemExit(f"Two wheels for {name} in {wheel.parent}: {seen[name]} and {wheel.name}; delete one.")
        seen[name] = wheel.name


def _copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, ignore=lambda d, names: [
        n for n in names if n in _EXCLUDE_DIRS or Path(n).suffix in _EXCLUDE_SUFFIXES])


def manifest_text(platforms: list[str], wheels: list[str]) -> str:
    """The repository manifest with ``platforms``/``wheels`` top-level keys inserted before the first table."""
    text = MANIFEST.read_text(encoding="utf-8")
    lines = []
    if platforms:
        lines.append("platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]")
    if wheels:
        lines.append("wheels = [\n" + "".join(f'  "./wheels/{w}",\n' for w in wheels) + "]")
    if not lines:
        return text
    first_table = re.search(r"^\[", text, re.M)
    at = first_table.start() if first_table else len(text)
    return text[:at] + "\n".join(lines) + "\n\n" + text[at:]


def stage(platform: Platform | None, wheels: list[Path], staging: Path = STAGING) -> Path:
    """Assemble the extension folder in ``staging`` (emptied first); returns it."""
    if staging.exists():
        shutil.rmtree(staging)
    _copy_tree(ADDON_DIR, staging)
    _copy_tree(ENGINE_DIR, staging / "vendor" / "engine")
    for src, dst in ENGINE_DATA:
        source = ROOT / src
        (_copy_tree if source.is_dir() else shutil.copy2)(source, staging / dst)
    if wheels:
        (staging / "wheels").mkdir()
        for wheel in wheels:
            shutil.copy2(wheel, staging / "wheels" / wheel.name)
    platforms = [platform.blender] if (platform is not None and wheels) else []
    (staging / "blender_manifest.toml").write_text(manifest_text(platforms, [w.name for w in wheels]), encoding="utf-8")
    return staging


def make_zip(source: Path, zip_path: Path) -> Path:
    """Zip ``source``'s contents (files at the zip root); wheels stored, everything else deflated."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    if zip_path.exists():
        zip_path.unlink()
    with zipfile.ZipFile(zip_path, "w") as zf:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                method = zipfile.ZIP_STORED if path.suffix == ".whl" else zipfile.ZIP_DEFLATED
                zf.write(path, path.relative_to(source).as_posix(), compress_type=method)
    return zip_path


def build(platform_id: str | None = None, cuda: bool = False, no_wheels: bool = False, out_dir: Path = DIST,
          staging: Path = STAGING, torch_index: str = TORCH_CPU_INDEX) -> Path:
    """Stage (in ``staging``) and zip the extension into ``out_dir``; returns the zip path."""
    platform_id = platform_id or current_platform()
    if platform_id not in PLATFORMS:
        raise SystemExit(f"Unknown platform {platform_id!r}; choose from {sorted(PLATFORMS)}")
    platform = PLATFORMS[platform_id]
    wheels = [] if no_wheels else download_wheels(platform, cuda, torch_index)
    source = stage(platform, wheels, staging)
    suffix = "nowheels" if no_wheels else f"{platform_id}-{'cuda' if cuda else 'cpu'}"
    return make_zip(source, Path(out_dir) / f"ffhquv_blender-{_version()}-{suffix}.zip")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the FFHQ-UV Blender extension zip (one per platform).")
    parser.add_argument("--platform", choices=[*sorted(PLATFORMS), ALL_PLATFORMS], default=None,
                        help=f"default: this machine's ({current_platform()}); '{ALL_PLATFORMS}': every platform")
    parser.add_argument("--cuda", action="store_true", help="bundle CUDA torch instead of the CPU build")
    parser.add_argument("--no-wheels", action="store_true", help="small dev zip without wheels")
    parser.add_argument("--out", type=Path, default=DIST, help="output folder (default dist/)")
    parser.add_argument("--torch-index", default=TORCH_CPU_INDEX,
                        help=f"extra index for the +cpu torch wheel (default {TORCH_CPU_INDEX}, probed first; "
                             f"'{NO_INDEX}': pip's configured indexes only, e.g. offline)")
    args = parser.parse_args(argv)
    platforms = sorted(PLATFORMS) if args.platform == ALL_PLATFORMS else [args.platform or current_platform()]
    if args.no_wheels:  # one platform-independent zip
        platforms = platforms[:1]
    needs_index = not args.no_wheels and not args.cuda and any("+cpu" in PLATFORMS[p].torch_cpu for p in platforms)
    torch_index = resolve_torch_index(args.torch_index) if needs_index else args.torch_index
    made = [build(p, args.cuda, args.no_wheels, args.out, torch_index=torch_index) for p in platforms]
    print(f"build.py: {len(made)} zip(s) made:")
    for zip_path in made:
        size = zip_path.stat().st_size
        print(f"  {zip_path} {size / 1e6:.1f} MB ({size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
