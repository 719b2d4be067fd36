"""engine.landmarks and engine.overlay on real photos: geometry, conventions, multi/small/no
faces, EXIF and format robustness, accuracy against iBUG-68 ground truth."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from engine import landmarks as lm
from engine.errors import FaceTooSmallError, NoFaceError
from engine.images import Photo, load_photo
from engine.overlay import COLOURS, draw_overlay, face_focus_box, visible_edges
from tests.photos import ground_truth_68, photo_path, save_oriented


@pytest.fixture(scope="module")
def astronaut() -> tuple[Photo, lm.FaceLandmarks]:
    photo = load_photo(photo_path("astronaut"))
    return photo, lm.detect_landmarks(photo)


def _nme(points: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """Mean point error over 68 and over the inner 51 points (no jaw), normalised by the
    ground truth's outer-eye-corner distance (300-W definition)."""
    err = np.linalg.norm(points[list(lm.IBUG68)] - gt, axis=1) / np.linalg.norm(gt[36] - gt[45])
    return float(err.mean()), float(err[17:].mean())


# ----------------------------------------------------------------------------- index sets


def test_index_sets_shapes() -> None:
    assert len(lm.FACE_OVAL) == 36 and lm.FACE_OVAL[0] == 10
    assert len(lm.LEFT_EYE) == len(lm.RIGHT_EYE) == 16
    assert len(lm.LIPS_OUTER) == len(lm.LIPS_INNER) == 20
    assert not set(lm.LIPS_OUTER) & set(lm.LIPS_INNER)
    assert len(lm.LEFT_EYEBROW) == len(lm.RIGHT_EYEBROW) == 10
    assert len(lm.LEFT_IRIS) == len(lm.RIGHT_IRIS) == 4
    assert (lm.RIGHT_IRIS_CENTRE, lm.LEFT_IRIS_CENTRE) == (468, 473)
    assert (lm.RIGHT_EYE_OUTER, lm.RIGHT_EYE_INNER) == (33, 133)
    assert (lm.LEFT_EYE_OUTER, lm.LEFT_EYE_INNER) == (263, 362)
    assert len(lm.IBUG68) == len(set(lm.IBUG68)) == 68
    assert lm.MESH_EDGES.shape == (2556, 2) and lm.MESH_EDGES.max() < 468
    every = set(lm.FACE_OVAL + lm.LEFT_EYE + lm.RIGHT_EYE + lm.LIPS_OUTER + lm.NOSE + lm.IBUG68)
    assert max(every) < lm.NUM_LANDMARKS


def test_index_sets_geometry(astronaut: tuple[Photo, lm.FaceLandmarks]) -> None:
    """Named sets sit where their names say on an upright frontal face."""
    _, face = astronaut
    p = face.points

    def inside(loop: tuple[int, ...], idx: int) -> bool:
        poly = p[list(loop)].astype(np.float32).reshape(-1, 1, 2)
        return cv2.pointPolygonTest(poly, tuple(map(float, p[idx])), False) > 0

    assert p[lm.LEFT_IRIS_CENTRE, 0] > p[lm.RIGHT_IRIS_CENTRE, 0]  # person's left = image right
    assert inside(lm.LEFT_EYE, lm.LEFT_IRIS_CENTRE) and inside(lm.RIGHT_EYE, lm.RIGHT_IRIS_CENTRE)
    assert all(inside(lm.FACE_OVAL, i) for i in lm.LEFT_EYE + lm.RIGHT_EYE + lm.LIPS_OUTER)
    assert all(inside(lm.LIPS_OUTER, i) for i in (13, 14))  # inner mid-lip points
    area = [cv2.contourArea(p[list(lp)].astype(np.float32)) for lp in (lm.LIPS_OUTER,
                                                                        lm.LIPS_INNER)]
    assert area[0] > 2 * area[1]
    for brow, eye in [(lm.LEFT_EYEBROW, lm.LEFT_EYE), (lm.RIGHT_EYEBROW, lm.RIGHT_EYE)]:
        assert p[list(brow), 1].max() < p[list(eye), 1].min()  # brows above the eye
    assert p[lm.CHIN, 1] == pytest.approx(p[list(lm.FACE_OVAL), 1].max(), abs=2.0)  # chin lowest
    nose_x = p[lm.NOSE_TIP, 0]
    assert abs(p[lm.RIGHT_EYE_OUTER, 0] - nose_x) > abs(p[lm.RIGHT_EYE_INNER, 0] - nose_x)


# ----------------------------------------------------------------------------- detection


def test_astronaut(astronaut: tuple[Photo, lm.FaceLandmarks]) -> None:
    photo, face = astronaut
    assert face.points.shape == (478, 2) and face.points.dtype == np.float64
    assert face.depth.shape == (478,) and np.isfinite(face.depth).all()
    assert face.face_count == 1 and face.warnings == [] and face.search == "full"
    assert face.image_size == photo.size
    x0, y0, x1, y1 = face.bbox
    assert 170 < x0 < x1 < 280 and 60 < y0 < y1 < 190  # her face, not the flag or shuttle
    assert 95 < face.face_size < 120 and 35 < face.inter_ocular < 50
    # the nose tip is the point closest to the camera, the face oval among the farthest
    assert face.depth[1] < np.percentile(face.depth, 5)
    assert np.median(face.depth[list(lm.FACE_OVAL)]) > np.median(face.depth)


def test_pixel_centre_convention(astronaut_rgb: np.ndarray, tmp_path: Path) -> None:
    """Nearest-neighbour 4x upscaling maps integer-centred pixel x to 4x + 1.5; an edge-origin
    reading of MediaPipe's normalised coordinates would give 4x instead."""
    Image.fromarray(astronaut_rgb).save(tmp_path / "a1.png")
    big = cv2.resize(astronaut_rgb, None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)
    Image.fromarray(big).save(tmp_path / "a4.png")
    p1 = lm.detect_landmarks(load_photo(tmp_path / "a1.png"), ensemble=False).points
    p4 = lm.detect_landmarks(load_photo(tmp_path / "a4.png"), ensemble=False).points
    shift = (p4 - 4 * p1).mean(axis=0)
    assert np.all(np.abs(shift - 1.5) < 0.75), shift


def test_takeo_against_ground_truth() -> None:
    face = lm.detect_landmarks(load_photo(photo_path("takeo")))
    nme68, nme51 = _nme(face.points, ground_truth_68("takeo"))
    assert nme68 < 0.07 and nme51 < 0.05, (nme68, nme51)  # measured 0.054 / 0.040


def test_two_faces_picks_larger_breakingbad() -> None:
    face = lm.detect_landmarks(load_photo(photo_path("breakingbad")))
    assert face.face_count == 2
    assert face.warnings == ["Found 2 faces in the photo; using the largest."]
    assert face.bbox[0] > 1100  # the larger face is on the right
    nme68, nme51 = _nme(face.points, ground_truth_68("breakingbad"))
    assert nme51 < 0.08, nme51  # annotated face; ~60 degrees of yaw, jaw excluded


def test_two_face_composite_picks_larger(two_face_path: Path) -> None:
    photo = load_photo(two_face_path)
    assert len(lm._run_mesh(photo.rgb)) == 1  # premise: FaceMesh alone misses the small copy
    face = lm.detect_landmarks(photo)
    assert face.face_count == 2 and face.centre[0] < 300  # full-size copy is on the left
    assert face.search == "full" and any("2 faces" in w for w in face.warnings)


def test_small_face_in_full_body_shot_einstein() -> None:
    """Einstein's face is ~90 px in an 817x1024 frame: FaceMesh misses it on the whole image;
    the full-range detector finds it."""
    photo = load_photo(photo_path("einstein"))
    assert lm._run_mesh(photo.rgb) == []  # the premise
    face = lm.detect_landmarks(photo)
    assert face.search == "detector" and face.face_count >= 1
    gt = ground_truth_68("einstein")
    assert np.linalg.norm(face.centre - gt.mean(axis=0)) < 15
    assert _nme(face.points, gt)[1] < 0.15


def test_far_face_found_by_tile_search(far_face_path: Path,
                                       astronaut: tuple[Photo, lm.FaceLandmarks]) -> None:
    photo = load_photo(far_face_path)
    assert lm._detector_boxes(photo.rgb) == []  # premise: both detectors miss it
    face = lm.detect_landmarks(photo)
    assert face.search == "tiles" and face.face_count == 1
    expected = (astronaut[1].points + 0.5) * 0.8 - 0.5 + (600, 530)
    assert np.abs(face.points - expected).mean() < 2.0


def test_tiny_face_is_refused(tiny_face_path: Path) -> None:
    with pytest.raises(FaceTooSmallError) as info:
        lm.detect_landmarks(load_photo(tiny_face_path))
    assert "pixels tall" in str(info.value) and "\n" not in str(info.value)
    assert info.value.hint and "crop" in info.value.hint


def test_no_face(tmp_path: Path, astronaut_rgb: np.ndarray) -> None:
    Image.fromarray(np.ascontiguousarray(astronaut_rgb[300:, 380:])).save(tmp_path / "shuttle.png")
    with pytest.raises(NoFaceError) as info:
        lm.detect_landmarks(load_photo(tmp_path / "shuttle.png"))
    assert "No face" in str(info.value) and info.value.hint


# ----------------------------------------------------------------------------- robustness


@pytest.mark.parametrize("orientation", [6, 8, 3])
def test_exif_rotation_gives_upright_landmarks(
    tmp_path: Path, astronaut_rgb: np.ndarray, astronaut: tuple[Photo, lm.FaceLandmarks],
    orientation: int,
) -> None:
    upright = np.ascontiguousarray(astronaut_rgb[:, :448])  # non-square: a swap would show
    Image.fromarray(upright).save(tmp_path / "up.jpg", quality=95)
    ref = lm.detect_landmarks(load_photo(tmp_path / "up.jpg")).points
    path = save_oriented(upright, orientation, tmp_path / "rot.jpg", quality=95)
    photo = load_photo(path)
    assert photo.original_size == (448, 512)
    points = lm.detect_landmarks(photo).points
    assert np.abs(points - ref).mean() < 1.0


@pytest.mark.parametrize("variant", ["grey", "rgba", "rgb16", "grey16", "huge"])
def test_formats_detect_the_same_face(
    tmp_path: Path, astronaut_rgb: np.ndarray, astronaut: tuple[Photo, lm.FaceLandmarks],
    variant: str,
) -> None:
    _, ref = astronaut
    path = tmp_path / f"{variant}.png"
    grey = cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2GRAY)
    if variant == "grey":
        Image.fromarray(grey).save(path)
    elif variant == "rgba":
        alpha = np.full(grey.shape, 255, np.uint8)
        alpha[:, :120] = 0  # transparent left strip (flag), face untouched
        Image.fromarray(np.dstack([astronaut_rgb, alpha])).save(path)
    elif variant == "rgb16":
        cv2.imwrite(str(path), astronaut_rgb[:, :, ::-1].astype(np.uint16) * 257 + 100)
    elif variant == "grey16":
        cv2.imwrite(str(path), grey.astype(np.uint16) * 257)
    else:
        big = cv2.resize(astronaut_rgb, (3072, 3072), interpolation=cv2.INTER_CUBIC)
        Image.fromarray(big).save(path.with_suffix(".jpg"), quality=90)
        path = path.with_suffix(".jpg")
    photo = load_photo(path, max_side=1024)
    face = lm.detect_landmarks(photo)
    points = photo.to_input_pixels(face.points)
    scale = photo.original_size[0] / 512
    tolerance = 2.5 if variant.startswith("grey") else 1.5  # grey changes the input more
    assert np.abs(points / scale - ref.points).mean() < tolerance


def test_ensemble_is_close_to_single_run(astronaut: tuple[Photo, lm.FaceLandmarks]) -> None:
    photo, face = astronaut
    single = lm.detect_landmarks(photo, ensemble=False)
    assert 0 < np.abs(single.points - face.points).mean() < 1.5


# ----------------------------------------------------------------------------- segmentation


def test_segment_person(astronaut: tuple[Photo, lm.FaceLandmarks]) -> None:
    photo, face = astronaut
    for mask in (lm.segment_person(photo), lm.segment_person(photo, face)):
        assert mask.shape == photo.rgb.shape[:2] and mask.dtype == np.float32
        assert 0.0 <= mask.min() and mask.max() <= 1.0
        ix = np.round(face.points[list(lm.NOSE)]).astype(int)
        assert mask[ix[:, 1], ix[:, 0]].min() > 0.9  # on the face
        assert mask[:40, :40].max() < 0.2  # top-left background
        assert 0.2 < mask.mean() < 0.8


def test_segment_person_small_person_needs_the_face_crop() -> None:
    photo = load_photo(photo_path("einstein"))
    face = lm.detect_landmarks(photo)
    ix = np.round(face.points[list(lm.NOSE)]).astype(int)
    assert lm.segment_person(photo)[ix[:, 1], ix[:, 0]].max() < 0.5  # whole frame: missed
    mask = lm.segment_person(photo, face)
    assert mask[ix[:, 1], ix[:, 0]].min() > 0.8
    assert mask[900:, :].max() < 0.2  # far below the crop: whole-image mask (background)
    side = int(4 * face.face_size)
    x0, y0, x1, y1 = lm._crop_box(mask.shape, face.centre, side)
    assert mask[y1 - int(0.25 * side), x0:x1].max() > 0.8  # his body, inside the crop
    assert mask[y1 - 1, x0:x1].max() < 0.1  # faded out at the crop border: no hard seam


# ----------------------------------------------------------------------------- overlay


def test_overlay_draws_points_and_wireframe(astronaut: tuple[Photo, lm.FaceLandmarks]) -> None:
    photo, face = astronaut
    tri = np.array([[1, 33, 263], [1, 263, 152], [1, 152, 33]])
    out = draw_overlay(photo.rgb, face.points[1:2], face.points[1:2] + 8.0,
                       vertices_2d=face.points, faces=tri,
                       face_visible=np.array([True, True, False]), long_side=None,
                       point_radius=2.5, legend=False)
    assert out.shape == photo.rgb.shape and out.dtype == np.uint8
    x, y = np.round(face.points[1]).astype(int)
    assert tuple(out[y, x]) == COLOURS["detected"]
    xf, yf = np.round(face.points[1] + 8).astype(int)
    assert tuple(out[yf, xf]) == COLOURS["fitted"]
    xm, ym = np.round(face.points[1] + 4).astype(int)  # on the residual line
    assert np.abs(out[ym - 1 : ym + 2, xm - 1 : xm + 2].astype(int)
                  - COLOURS["residual"]).sum(axis=2).min() < 60
    assert visible_edges(tri, np.array([True, True, False])).shape == (5, 2)
    np.testing.assert_array_equal(out[:60, :60], photo.rgb[:60, :60])  # nothing drawn there


def test_overlay_focus_and_resize(astronaut: tuple[Photo, lm.FaceLandmarks]) -> None:
    photo, face = astronaut
    box = face_focus_box(face.bbox, photo.size, margin=0.25)
    out = draw_overlay(photo.rgb, face.points, landmark_edges=lm.MESH_EDGES, focus=box,
                       long_side=600, point_radius=2.0)
    assert max(out.shape[:2]) == 600
    zoom = 600 / max(box[2] - box[0], box[3] - box[1])
    x, y = np.round((face.points[1] - box[:2] + 0.5) * zoom - 0.5).astype(int)
    assert tuple(out[y, x]) == COLOURS["detected"]


# ----------------------------------------------------------------------------- mirror averaging


def test_landmark_mirror_table() -> None:
    """Each landmark's mirror: an involution that swaps the eyes and irises, keeps the lips, the oval and
    the nose ridge on themselves, and fixes the midline points."""
    table = lm.landmark_mirror()
    assert table.shape == (478,) and np.array_equal(table[table], np.arange(478))
    assert sorted(table[list(lm.LEFT_EYE)]) == sorted(lm.RIGHT_EYE)
    assert sorted(table[list(lm.LEFT_IRIS)]) == sorted(lm.RIGHT_IRIS)
    assert table[lm.LEFT_IRIS_CENTRE] == lm.RIGHT_IRIS_CENTRE
    for loop in (lm.LIPS_INNER, lm.LIPS_OUTER, lm.FACE_OVAL):
        assert sorted(table[list(loop)]) == sorted(loop)
    assert all(table[i] == i for i in (1, 4, 6, 152, 10, 13, 14))  # nose tip / ridge, chin, forehead, lips


def test_landmark_mirror_table_is_reproduced_by_its_build_script() -> None:
    """engine/build_landmark_mirror.py measures the shipped table again on the symmetric astronauts."""
    from engine.build_landmark_mirror import measured_tables

    for table in measured_tables():
        assert np.array_equal(table, lm.landmark_mirror())


def test_detection_is_mirror_equivariant(astronaut: tuple[Photo, lm.FaceLandmarks]) -> None:
    """With the mirror average, a left/right-mirrored photo gives exactly the mirrored points; without it,
    FaceMesh alone does not (its errors are not mirror-symmetric)."""
    from dataclasses import replace

    photo, face = astronaut
    w = photo.rgb.shape[1]
    flipped = replace(photo, rgb=np.ascontiguousarray(photo.rgb[:, ::-1]))

    def back(points: np.ndarray) -> np.ndarray:
        out = points.copy()
        out[:, 0] = w - 1 - out[:, 0]
        return out[lm.landmark_mirror()]

    np.testing.assert_allclose(back(lm.detect_landmarks(flipped).points), face.points, atol=1e-6)
    plain = lm.detect_landmarks(photo, mirror=False).points
    assert np.abs(back(lm.detect_landmarks(flipped, mirror=False).points) - plain).max() > 0.05
    assert np.abs(face.points - plain).mean() < 1.5  # the average moves points by a pixel or so, not more
