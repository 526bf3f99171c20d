"""Recognition on registry photos: same person above the threshold, different people below."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

OBAMA = ("obama.jpg", "obama2.jpg", "obama3.jpg")


@pytest.fixture(scope="module")
def vectors(face_models, frame_of) -> dict[str, np.ndarray]:
    out = {}
    for name in (*OBAMA, "biden.jpg", "obama_partial_face.jpg"):
        frame = frame_of(name)
        faces = face_models.detector.detect(frame)
        out[name] = face_models.embedder.embed(frame, faces).vectors[0]
    return out


@pytest.mark.parametrize(("a", "b"), list(combinations(OBAMA, 2)))
def test_same_person_above_threshold(vectors, face_models, a: str, b: str) -> None:
    assert float(vectors[a] @ vectors[b]) >= face_models.match_threshold


@pytest.mark.parametrize("a", OBAMA)
def test_different_person_below_threshold(vectors, face_models, a: str) -> None:
    assert float(vectors[a] @ vectors["biden.jpg"]) < face_models.match_threshold


def test_partial_face_still_matches(vectors, face_models) -> None:
    assert float(vectors["obama.jpg"] @ vectors["obama_partial_face.jpg"]) >= face_models.match_threshold


def test_solvay_strangers_are_not_obama_or_biden(face_models, frame_of, vectors) -> None:
    frame = frame_of("solvay_conference_1927.jpg")
    emb = face_models.embedder.embed(frame, face_models.detector.detect(frame)).vectors
    known = np.stack([vectors["obama.jpg"], vectors["biden.jpg"]])
    assert (emb @ known.T).max() < face_models.match_threshold


def test_embeddings_are_unit_length_and_batch_independent(face_models, frame_of) -> None:
    frame = frame_of("solvay_conference_1927.jpg")
    faces = face_models.detector.detect(frame)
    batched = face_models.embedder.embed(frame, faces).vectors
    single = np.concatenate([face_models.embedder.embed(frame, faces.select(np.array([i]))).vectors for i in range(3)])
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert np.allclose(batched[:3], single, atol=1e-5)
