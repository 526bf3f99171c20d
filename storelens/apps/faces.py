"""Wiring: config + manifest -> verified files -> ONNX sessions -> detector and embedder."""

from __future__ import annotations

from pathlib import Path

from storelens.config import Config, HqConfig
from storelens.edge.detect import FaceDetector
from storelens.edge.people import PersonDetector
from storelens.edge.recognise import FaceEmbedder
from storelens.face_path import FacePath, face_path
from storelens.manifest import load_manifest, models_dir
from storelens.models.runtime import open_session
from storelens.models.verify import verify_model_file
from storelens.stage_messages import FaceModels


def load_face_models(config: Config | HqConfig, directory: Path | None = None) -> FaceModels:
    """Build the face stages for ``config`` (a box, or head office enrolling); refuses unknown or mismatched models."""
    manifest = load_manifest()
    pack = manifest.pack(config.models.pack)
    where = directory or models_dir(config.models.dir or None)
    det_spec = manifest.get(pack.detector)
    rec_spec = manifest.recogniser_of(pack.name)
    det_session = open_session(verify_model_file(det_spec, where), det_spec, config.models.runtime)
    rec_session = open_session(verify_model_file(rec_spec, where), rec_spec, config.models.runtime)
    # No size filter here: each camera applies its own minimum (config.min_face_px_for), and calibration must see
    # the small faces to say TOO SMALL.
    detector = FaceDetector(det_session, det_spec, config.detection.score_threshold)
    embedder = FaceEmbedder(rec_session, rec_spec)
    return FaceModels(detector, embedder, det_spec, rec_spec)


def load_person_detector(config: Config, directory: Path | None = None) -> PersonDetector:
    """The person detector ``models.person`` names, its file verified; refuses an unknown or mismatched model."""
    manifest = load_manifest()
    spec = manifest.get(config.models.person)
    where = directory or models_dir(config.models.dir or None)
    session = open_session(verify_model_file(spec, where), spec, config.models.runtime)
    return PersonDetector(session, spec, config.detection.person_score_threshold)


def load_face_path(config: Config | HqConfig, directory: Path | None = None) -> FacePath:
    """The one face path (``storelens.face_path``) for a command or process that looks at photos.

    The face models, and dark images lifted as the cameras' are (``detection.lift_dark_below``).
    """
    return face_path(load_face_models(config, directory), config.detection)
