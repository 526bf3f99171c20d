"""Face detection on registry photos, and the Detections message's shape checks."""

from __future__ import annotations

import ast
import tarfile

import numpy as np
import pytest

from storelens.models.prepare import cache_dir, pip_download
from storelens.sample_videos.photos import SOURCES
from storelens.stage_messages import Detections, Embeddings, Frame


def scrfd_reference_boxes() -> dict[str, list[tuple[float, float, float, float]]]:
    """The scrfd package's own reference boxes (tests/truth_faces.py of its sdist), parsed, not imported."""
    src = next(s for s in SOURCES if s.package == "scrfd")
    archive = pip_download(src.package, src.version, src.archive, src.sha256, cache_dir())
    with tarfile.open(archive) as tar:
        member = tar.extractfile("scrfd-0.3.0/tests/truth_faces.py")
        assert member is not None
        tree = ast.parse(member.read().decode())
    out: dict[str, list[tuple[float, float, float, float]]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(value, ast.List):
                    out[key.value] = [_bbox(face) for face in value.elts]
    return out


def _bbox(face: ast.AST) -> tuple[float, float, float, float]:
    call = next(n for n in ast.walk(face) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Bbox")
    pts = {kw.arg: {k.arg: ast.literal_eval(k.value) for k in kw.value.keywords} for kw in call.keywords}
    ul, lr = pts["upper_left"], pts["lower_right"]
    return (ul["x"], ul["y"], lr["x"], lr["y"])


def iou(a: np.ndarray, b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union)


def test_solvay_has_29_faces(face_models, frame_of) -> None:
    dets = face_models.detector.detect(frame_of("solvay_conference_1927.jpg"))
    assert len(dets) == 29
    # every keypoint lies inside its box
    inside = (dets.keypoints[..., 0] >= dets.boxes[:, None, 0]) & (dets.keypoints[..., 0] <= dets.boxes[:, None, 2])
    assert inside.all()


@pytest.mark.parametrize(
    "name",
    ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg",
     "32bit.png", "gauss.png", "newton.png"],
)  # fmt: skip
def test_portraits_have_one_face(face_models, frame_of, name: str) -> None:
    assert len(face_models.detector.detect(frame_of(name))) == 1


def test_boxes_agree_with_scrfd_reference(face_models, frame_of) -> None:
    reference = scrfd_reference_boxes()
    assert set(reference) >= {"newton.png", "gauss.png"}
    for name, boxes in reference.items():
        dets = face_models.detector.detect(frame_of(name))
        assert len(dets) == len(boxes)
        for box in boxes:
            best = max(iou(d, box) for d in dets.boxes)
            assert best >= 0.5, (name, box, best)


def test_t1_group_photo(face_models, frame_of) -> None:
    assert len(face_models.detector.detect(frame_of("t1.jpg"))) == 6


@pytest.mark.parametrize(
    ("global_px", "camera_px", "kept"),
    [(24, None, 29), (2000, None, 0), (2000, 24, 29), (24, 2000, 0)],  # the camera's own minimum wins both ways
)
def test_each_camera_applies_its_own_minimum_face_width(
    face_models, frame_of, tmp_path, global_px, camera_px, kept
) -> None:
    from storelens.apps.edge import build_pipeline
    from storelens.config import Config
    from storelens.edge.visits import AnonymousRegistry, ArrivalCooldown
    from storelens.gallery.factory import open_gallery

    camera = {"id": "entrance", "source": "x"} | ({"min_face_px": camera_px} if camera_px else {})
    config = Config.model_validate({"store": {"id": "s"}, "cameras": [camera], "detection": {"min_face_px": global_px}})
    gallery = open_gallery(config, face_models.recogniser_spec, tmp_path / "g")
    pipeline = build_pipeline(
        config, config.cameras[0], face_models, gallery, ArrivalCooldown(30), AnonymousRegistry(12, 10, 0.9)
    )
    assert len(pipeline.detect(frame_of("solvay_conference_1927.jpg"))) == kept
    gallery.close()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Detections(np.zeros((2, 5), np.float32), np.zeros(2, np.float32), np.zeros((2, 5, 2), np.float32)),
         r"Detections.boxes: expected shape \(\*, 4\)"),
        (lambda: Detections(np.zeros((2, 4), np.float32), np.zeros(3, np.float32), np.zeros((2, 5, 2), np.float32)),
         r"Detections.scores: expected shape \(2,\)"),
        (lambda: Detections(np.zeros((1, 4), np.float32), np.zeros(1, np.float32), np.zeros((1, 68, 2), np.float32)),
         r"Detections.keypoints: expected shape \(1, 5, 2\)"),
        (lambda: Detections(np.zeros((1, 4)), np.zeros(1, np.float32), np.zeros((1, 5, 2), np.float32)),
         "expected dtype float32"),
        (lambda: Frame(np.zeros((4, 4), np.uint8)), r"Frame.image: expected shape \(\*, \*, 3\)"),
        (lambda: Embeddings(np.ones((2, 3), np.float32), "m"), "L2-normalised"),
    ],
    ids=["boxes", "scores", "keypoints", "dtype", "frame", "norm"],
)  # fmt: skip
def test_messages_name_expected_shapes(make, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        make()


@pytest.mark.parametrize("name", ["solvay_conference_1927.jpg", "t1.jpg", "obama.jpg", "sample2.jpg", "sample5.jpg"])
def test_yunet_decoder_matches_opencv_box_for_box(name, face_models, photos, group_photos) -> None:
    """Our decoder on ONNX Runtime against OpenCV's own FaceDetectorYN on the int8 file as shipped."""
    import cv2

    from storelens.images import load_image
    from storelens.models.prepare import fetch_origin

    detector = face_models.detector
    spec = detector.spec
    assert spec.decoder == "yunet" and spec.origin is not None
    blob, _ = detector.letterbox(load_image({**photos, **group_photos}[name]))
    canvas = np.ascontiguousarray(blob[0].transpose(1, 2, 0).astype(np.uint8))
    reference = cv2.FaceDetectorYN.create(
        str(fetch_origin(spec.origin, cache_dir())),
        "",
        tuple(spec.input_size),
        spec.score_threshold,
        spec.nms_threshold,
        5000,
    )
    _, faces = reference.detect(canvas)
    boxes, scores, kps = detector._yunet.decode(blob) if detector._yunet is not None else (None, None, None)
    assert boxes is not None and faces is not None and len(boxes) == len(faces) >= 1
    ours = np.argsort(-scores, kind="stable")
    theirs = np.argsort(-faces[:, 14], kind="stable")
    assert np.abs(scores[ours] - faces[theirs, 14]).max() < 1e-4
    assert np.abs(boxes[ours, :2] - faces[theirs, :2]).max() < 0.05
    assert np.abs((boxes[ours, 2:] - boxes[ours, :2]) - faces[theirs, 2:4]).max() < 0.05
    assert np.abs(kps[ours].reshape(-1, 10) - faces[theirs, 4:14]).max() < 0.05


def test_group_photos_faces_are_all_found(face_models, group_photos) -> None:
    """The face-api demo photos: every face a person would count is found, and nothing else."""
    from storelens.images import load_image

    counts = [len(face_models.detector.detect(Frame(load_image(group_photos[f"sample{i}.jpg"])))) for i in range(1, 7)]
    assert counts == [3, 3, 3, 4, 5, 4]
