"""The `ffhquv reconstruct` command as a user runs it: real photos, real engine, files on disk."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import NO_NPM_REASON
from tests.photos import photo_path

ROOT = Path(__file__).resolve().parents[1]
GLTF_VALIDATOR = ROOT / "tools" / "gltf" / "validate.mjs"


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def astronaut_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "astronaut"
    proc = run_cli("reconstruct", str(photo_path("astronaut")), "-o", str(out), "--texture-size", "1024",
                   "--progress", "json")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert lines[-1]["stage"] == "done" and Path(lines[-1]["output"]) == out.resolve()
    stages = {rec["stage"] for rec in lines}
    assert {"landmarks", "fit", "write", "done"} <= stages
    assert all(0.0 <= rec["fraction"] <= 1.0 for rec in lines)
    return out


def test_output_folder_has_every_file(astronaut_out: Path) -> None:
    names = {p.name for p in astronaut_out.iterdir()}
    assert {"head.obj", "head.mtl", "head_mesh.npz", "head.glb", "params.json", "overlay.png", "albedo.png",
            "normal.png", "roughness.png", "relit.png"} <= names
    assert not [p for p in astronaut_out.parent.iterdir() if p.name.startswith(".")], "temporary folder left"


def test_params_camera_reprojects_the_landmarks(astronaut_out: Path) -> None:
    params = json.loads((astronaut_out / "params.json").read_text())
    K, R, t = (np.array(params[k]) for k in ("K", "R", "t"))
    X = np.array(params["landmarks478_3d"])
    proj = (X @ R.T + t) @ K.T
    pixels = proj[:, :2] / proj[:, 2:]
    assert np.allclose(pixels, np.array(params["landmarks478"]), atol=1e-3)
    detected = np.array(params["landmarks478_detected"])
    iod = np.linalg.norm(detected[[33, 133]].mean(0) - detected[[362, 263]].mean(0))
    error = np.linalg.norm(pixels - detected, axis=1).mean() / iod
    # head.obj is the slider fit: its landmarks sit a few % IOD off MediaPipe's (whose own error on known
    # heads is 4-6 %, and whose known bias the fit removes first); the texture is unwrapped with the
    # corrective field on top, which lands on them. (5.05 % since the inner-lip points moved onto their own
    # lips: the fitted smile parts the lips 0.106 IOD where MediaPipe says 0.155; the benchmark's error
    # against the true landmarks fell, 3.76 -> 3.57 %.)
    assert error < 0.06, f"mean landmark error {error:.2%} of the inter-ocular distance"
    assert params["metrics"]["landmark_error_iod"] < 0.015
    assert params["image_size"] == [512, 512]
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-5) and np.linalg.det(R) > 0
    assert len(params["shape"]) > 100 and len(params["expression"]) == 52


def test_params_say_where_the_renders_really_ran(astronaut_out: Path) -> None:
    import torch

    from engine.render import nvdiffrast_usable

    params = json.loads((astronaut_out / "params.json").read_text())
    assert params["options"]["device"] == "auto"
    cuda = torch.cuda.is_available()
    assert params["device_used"] == ("cuda" if cuda else "cpu")
    assert params["render_backend"] == ("nvdiffrast" if cuda and nvdiffrast_usable("cuda:0") else "torch")


def test_head_obj_matches_params(astronaut_out: Path) -> None:
    """The 3D landmarks in params.json lie on head.obj's surface (same coordinates)."""
    verts = np.array([[float(x) for x in line.split()[1:4]]
                      for line in (astronaut_out / "head.obj").read_text().splitlines() if line.startswith("v ")])
    assert "map_Kd albedo.png" in (astronaut_out / "head.mtl").read_text()
    X = np.array(json.loads((astronaut_out / "params.json").read_text())["landmarks478_3d"])
    nearest = np.sqrt(((X[:, None, :] - verts[None, :, :]) ** 2).sum(-1)).min(1)
    assert np.median(nearest) < 0.006  # within a triangle of the mesh (metres)
    mesh = np.load(astronaut_out / "head_mesh.npz")
    assert np.allclose(mesh["vertices"], verts, atol=1e-5)
    assert mesh["blendshape_deltas"].shape == (52, len(verts), 3)


def test_astronaut_albedo_is_even_and_re_renders_the_photo(astronaut_out: Path) -> None:
    # Measured: BS 11.7 over the face texels seen on both sides (5.92 with the filled texels counted,
    # which flatter it), 25.8 dB self-consistency (27.9 when the corrective field was part of the shape:
    # the stronger shape prior leaves the unwrap mesh's corrective field more to do). Before the lighting was fitted from the skin below
    # the brows first, forehead hair bent it (22.6 dB): these bounds catch that kind of regression.
    # They are regression guards, not quality claims: bench/bench_groundtruth.py measures quality.
    # With MediaPipe's landmark error removed (engine/fit/landmark_prior.py) the astronaut's BS went
    # 12.3 -> 13.3, 6.7 with the filled texels (the benchmark's mean went 9.2 -> 8.9): the guards sit above.
    m = json.loads((astronaut_out / "params.json").read_text())["metrics"]
    assert m["bs_error"] < 14.0
    assert m["bs_error_with_fill"] < 7.5
    assert 0.3 < m["bs_counted_share"] < 0.8 and 0.2 < m["filled_share_face"] < 0.8
    assert m["psnr_self_consistency"] > 25.0
    assert m["bs_error"] < 0.5 * m["bs_error_unwrap"]
    assert m["landmark_error_parametric_iod"] > m["landmark_error_iod"]  # before / after the corrective field


def test_grey_photo_gives_a_grey_albedo(tmp_path: Path) -> None:
    import cv2

    out = tmp_path / "takeo"
    proc = run_cli("reconstruct", str(photo_path("takeo")), "-o", str(out), "--progress", "none")
    assert proc.returncode == 0, proc.stderr
    albedo = cv2.imread(str(out / "albedo.png")).astype(np.int16)
    assert int(np.abs(albedo - albedo[..., :1]).max()) <= 1  # no template colour in a black-and-white photo
    m = json.loads((out / "params.json").read_text())["metrics"]
    # Measured 11.2 (both sides seen; 9.9 when the unwrap mesh was the shape fit with its own camera) and 30.4 dB. No eye white is found in this photo, so the skin prior
    # sets its exposure (mean face L* 44 -> 58): the same relative asymmetry is a larger CIEDE2000
    # difference in lighter skin (7.8 before the colour-constancy stage).
    assert m["bs_error"] < 12.0 and m["psnr_self_consistency"] > 26.0


@pytest.mark.skipif(shutil.which("npm") is None or not (GLTF_VALIDATOR.parent / "node_modules").exists(),
                    reason=NO_NPM_REASON)
def test_glb_passes_the_khronos_validator(astronaut_out: Path) -> None:
    proc = subprocess.run(["node", str(GLTF_VALIDATOR), str(astronaut_out / "head.glb")], capture_output=True,
                          text=True, timeout=120)
    report = json.loads(proc.stdout)
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"][:5]
    # Tangents are written (a runtime-generated tangent space is a warning) and only where a normal map uses them.
    assert report["issues"]["numWarnings"] == 0 and report["issues"]["numInfos"] == 0, report["issues"]["messages"][:5]
    info = report["info"]
    assert info["hasTextures"] and info["hasMorphTargets"] and info["materialCount"] >= 2


def user_error(proc: subprocess.CompletedProcess, code: int, words: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    messages = [line for line in proc.stderr.splitlines() if line.startswith("ffhquv:")]
    assert len(messages) == 1 and words.lower() in messages[0].lower(), proc.stderr


def test_missing_photo(tmp_path: Path) -> None:
    user_error(run_cli("reconstruct", str(tmp_path / "nope.jpg"), "-o", str(tmp_path / "out")), 2, "nope.jpg")
    assert not (tmp_path / "out").exists()


def test_not_an_image(tmp_path: Path) -> None:
    fake = tmp_path / "notes.jpg"
    fake.write_text("this is not a photo")
    user_error(run_cli("reconstruct", str(fake), "-o", str(tmp_path / "out")), 2, "notes.jpg")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("debug", [False, True], ids=["quiet", "debug"])
def test_no_face_is_one_line_on_stderr(tmp_path: Path, debug: bool) -> None:
    """MediaPipe's native log lines (TFLite, absl) are silenced: the error is the only stderr line.
    ``--debug`` keeps them."""
    from PIL import Image

    y, x = np.mgrid[0:300, 0:400]
    Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8)).save(tmp_path / "wall.png")
    proc = run_cli("reconstruct", str(tmp_path / "wall.png"), "-o", str(tmp_path / "out"),
                   *(["--debug"] if debug else []))
    user_error(proc, 3, "no face")
    lines = proc.stderr.strip().splitlines()
    if debug:
        assert len(lines) > 1, proc.stderr
    else:
        assert lines == [f"ffhquv: No face was found in wall.png. (use a well-lit photo where the face is visible "
                         f"and not heavily covered)"], proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["/proc/x", "file/out"])
def test_unwritable_output_fails_before_any_work(tmp_path: Path, where: str) -> None:
    """Nothing can be created there (a pseudo file system; a file in the way): exit 2 at once, not after the run."""
    (tmp_path / "file").write_text("in the way")
    output = where if where.startswith("/") else str(tmp_path / where)
    started = time.monotonic()
    proc = run_cli("reconstruct", str(photo_path("astronaut")), "-o", output)
    elapsed = time.monotonic() - started
    user_error(proc, 2, "output folder")
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_overwrite_a_file_follows_the_umask_and_leaves_nothing_behind(tmp_path: Path) -> None:
    """--overwrite replaces an existing *file* (no hidden .NAME.old-PID left); folders get the user's umask."""
    out = tmp_path / "out"
    out.write_text("an old file")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "engine", "reconstruct", str(photo_path("takeo")), "-o", str(out),
                           "--overwrite", "--no-texture", "--progress", "none"], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=600, preexec_fn=lambda: os.umask(0o027))
    assert proc.returncode == 0, proc.stderr
    assert out.is_dir() and (out / "head_mesh.npz").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "hidden temporary or old copy left behind"
    assert stat.S_IMODE(out.stat().st_mode) == 0o750


def test_output_folder_mode_follows_the_umask(astronaut_out: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(astronaut_out.stat().st_mode) == 0o777 & ~umask


def test_existing_output_is_not_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    user_error(run_cli("reconstruct", "--demo", "-o", str(out)), 2, "already exists")
    assert (out / "mine.txt").read_text() == "keep me"


def test_failed_write_leaves_no_half_written_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """write_outputs builds in a temporary sibling and renames at the end; a failure mid-way removes it."""
    from engine import api, outputs
    from tests.test_fit import fitted_astronaut  # noqa: F401 - reuse the in-process fit

    rec = fitted_astronaut()

    def broken(rec, folder, progress=None):
        (folder / "head.obj").write_text("partial")
        raise OSError("disk full")

    monkeypatch.setattr(outputs, "write_all", broken)
    with pytest.raises(OSError):
        api.write_outputs(rec, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_cuda_request_without_cuda_is_a_clear_error(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    user_error(run_cli("reconstruct", "--demo", "-o", str(tmp_path / "out"), "--device", "cuda"), 2, "cuda")


def _start_json_run(photo: Path, out: Path, until_stage: str, until_fraction: float) -> subprocess.Popen:
    """The engine as the add-on runs it (stdin a pipe, JSON progress), read until a given progress line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "engine", "reconstruct", str(photo), "-o", str(out), "--progress",
                             "json"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    for line in proc.stdout:
        record = json.loads(line)
        if record["stage"] == until_stage and record["fraction"] >= until_fraction:
            return proc
    raise AssertionError(f"the run ended before {until_stage} {until_fraction}: {proc.stderr.read()}")


# "fit": progress every ~30 ms; "texture" 0.2: the de-lighting, seconds without a progress report (the
# engine then interrupts the step itself, engine/control.py).
@pytest.mark.parametrize("stage,fraction", [("fit", 0.3), ("texture", 0.2)])
def test_cancel_line_on_stdin_stops_within_a_second(tmp_path: Path, stage: str, fraction: float) -> None:
    """The add-on's cooperative cancel, the same on every platform: a "cancel" line on stdin."""
    out = tmp_path / "out"
    proc = _start_json_run(photo_path("astronaut"), out, stage, fraction)
    started = time.monotonic()
    proc.stdin.write(json.dumps({"command": "cancel"}) + "\n")
    proc.stdin.flush()
    proc.wait(timeout=30)
    elapsed = time.monotonic() - started
    rest = proc.stdout.read().strip().splitlines()
    assert proc.returncode == 130, proc.stderr.read()
    assert elapsed <= 1.0, f"exit {elapsed:.2f} s after the cancel line"
    assert json.loads(rest[-1]) == {"stage": "error", "fraction": 1.0, "message": "cancelled", "kind": "Cancelled"}
    assert proc.stderr.read().strip() == "ffhquv: cancelled"
    assert list(tmp_path.iterdir()) == [], "temporary output folder left behind"


def test_sigterm_cancels_without_leaving_files(tmp_path: Path) -> None:
    """The add-on's Cancel sends SIGTERM: the engine stops, exits 130 and removes its temporary folder."""
    import signal
    import time

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "engine", "reconstruct", str(photo_path("astronaut")), "-o",
                             str(out), "--progress", "json"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    for line in proc.stdout:  # wait until the fit runs: imports done, the signal handler is installed
        if json.loads(line)["stage"] in ("fit", "refine"):
            break
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    start = time.monotonic()
    proc.wait(timeout=30)
    assert proc.returncode == 130
    assert time.monotonic() - start < 5
    assert list(tmp_path.iterdir()) == []


def test_a_strongly_blue_photo_does_not_break_the_lighting_solve(tmp_path: Path) -> None:
    # The tongue photo with its white balance set to 3200 K (bench/bench_photos.py's perturbation test)
    # once made the de-lighter's normal equations singular: "internal error: LinAlgError".
    import cv2

    from bench.groundtruth.perturb import shift_white_balance

    rgb = cv2.imread(str(photo_path("tongue")))[..., ::-1]
    photo = tmp_path / "tongue_3200K.png"
    cv2.imwrite(str(photo), shift_white_balance(np.ascontiguousarray(rgb), 3200.0)[..., ::-1])
    proc = run_cli("reconstruct", str(photo), "-o", str(tmp_path / "out"), "--progress", "none")
    assert proc.returncode == 0, proc.stderr[-2000:]
