"""SCRFD-keypoint alignment to dlib's chip: the template is re-derived here from dlib's own chips,
and recognition through it is as good as through dlib's own alignment on the registry photos."""

from __future__ import annotations

from itertools import combinations

import cv2
import numpy as np
import pytest

from storelens.stage_messages import Frame

PORTRAITS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg", "biden.jpg")
TEMPLATE_SOURCES = (*PORTRAITS, "solvay_conference_1927.jpg", "gauss.png", "newton.png")


@pytest.fixture(scope="module")
def pairs(dlib_models, frame_of, dlib_tools):
    """For each face: (photo, dlib's chip as BGR, our chip)."""
    from storelens.edge.align import align_faces

    out = []
    for name in TEMPLATE_SOURCES:
        frame = frame_of(name)
        faces = dlib_models.detector.detect(frame)
        theirs = dlib_tools.chips(frame, faces.boxes)[..., ::-1]
        ours = align_faces(frame.image, faces.keypoints, dlib_models.recogniser_spec)
        out += [(name, t, o) for t, o in zip(theirs, ours, strict=True)]
    return out


def test_template_rederived_from_dlib_chips(dlib_models, pairs) -> None:
    """SCRFD run on each of dlib's chips (on a black border) gives SCRFD's points in chip coordinates."""
    pad = 75
    points = []
    for _, chip, _ in pairs:
        big = cv2.copyMakeBorder(np.ascontiguousarray(chip), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        dets = dlib_models.detector.detect(Frame(big))
        if len(dets):
            points.append(dets.keypoints[0] - pad)
    assert len(points) >= 30
    derived = np.mean(points, axis=0)
    recorded = np.asarray(dlib_models.recogniser_spec.template)
    print("derived template", np.round(derived, 2).tolist())
    assert np.abs(derived - recorded).max() < 1.5


def test_our_chips_embed_like_dlibs_chips(dlib_models, pairs) -> None:
    theirs = dlib_models.embedder.embed_chips(np.stack([p[1] for p in pairs]))
    ours = dlib_models.embedder.embed_chips(np.stack([p[2] for p in pairs]))
    cos = (theirs * ours).sum(1)
    print(f"our alignment vs dlib's on {len(cos)} faces: cosine min {cos.min():.4f} mean {cos.mean():.4f}")
    assert cos.mean() >= 0.985 and cos.min() >= 0.95


def test_same_and_different_person_as_well_as_dlib_alignment(dlib_models, pairs) -> None:
    portrait = {name: (t, o) for name, t, o in pairs if name in PORTRAITS}
    names = list(portrait)
    theirs = dict(zip(names, dlib_models.embedder.embed_chips(np.stack([portrait[n][0] for n in names])), strict=True))
    ours = dict(zip(names, dlib_models.embedder.embed_chips(np.stack([portrait[n][1] for n in names])), strict=True))
    genuine = [(a, b) for a, b in combinations(names, 2) if "biden" not in a + b]
    impostor = [(a, "biden.jpg") for a in names if a != "biden.jpg"]

    def separation(vecs: dict[str, np.ndarray]) -> tuple[float, float]:
        return (min(float(vecs[a] @ vecs[b]) for a, b in genuine), max(float(vecs[a] @ vecs[b]) for a, b in impostor))

    (our_gen, our_imp), (dlib_gen, dlib_imp) = separation(ours), separation(theirs)
    print(
        f"ours: genuine min {our_gen:.3f}, impostor max {our_imp:.3f}; "
        f"dlib alignment: genuine min {dlib_gen:.3f}, impostor max {dlib_imp:.3f}"
    )
    threshold = dlib_models.match_threshold
    assert our_gen >= threshold > our_imp
    assert (our_gen - our_imp) >= (dlib_gen - dlib_imp) - 0.01


def test_the_arcface_template_is_insightface_s() -> None:
    """ARCFACE_112 is written out (importing insightface costs a second); it must stay insightface's points."""
    from insightface.utils.face_align import arcface_dst

    from storelens.edge.align import ARCFACE_112

    np.testing.assert_array_equal(ARCFACE_112, np.asarray(arcface_dst, np.float32))
