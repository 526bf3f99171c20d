"""Wiring: config + manifest -> verified files -> ONNX sessions -> detector and embedder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.detect import FaceDetector
from edge.recognise import FaceEmbedder
from models.manifest import ModelSpec, load_manifest, models_dir, verify_model_file
from models.runtime import make_session
from storelens.config import Config


@dataclass(frozen=True)
class FaceModels:
    """The detector and embedder selected by a config, with their manifest entries."""

    detector: FaceDetector
    embedder: FaceEmbedder
    detector_spec: ModelSpec
    recogniser_spec: ModelSpec

    @property
    def match_threshold(self) -> float:
        """Cosine similarity above which two faces are the same person (manifest default)."""
        return float(self.recogniser_spec.match_threshold or 0.0)


def load_face_models(config: Config, directory: Path | None = None) -> FaceModels:
    """Build the face stages for ``config``; refuses unknown or mismatched models with a clear error."""
    manifest = load_manifest()
    pack = manifest.pack(config.models.pack)
    where = directory or models_dir(config.models.dir or None)
    det_spec = manifest.get(pack.detector)
    rec_spec = manifest.get(pack.recogniser)
    det_session = make_session(verify_model_file(det_spec, where), config.models.runtime)
    rec_session = make_session(verify_model_file(rec_spec, where), config.models.runtime)
    detector = FaceDetector(det_session, det_spec, config.detection.score_threshold, config.detection.min_face_px)
    embedder = FaceEmbedder(rec_session, rec_spec)
    return FaceModels(detector, embedder, det_spec, rec_spec)
