"""Wiring: a configured gallery for the configured recogniser."""

from __future__ import annotations

from pathlib import Path

from gallery.gallery import Gallery, MatchPolicy
from models.manifest import ModelSpec
from storelens.config import Config


def match_policy(config: Config, spec: ModelSpec) -> MatchPolicy:
    """Threshold and margin: the config's (set by calibration) or else the model's defaults."""
    threshold = config.recognition.match_threshold
    margin = config.recognition.match_margin
    return MatchPolicy(
        threshold=float(threshold if threshold is not None else spec.match_threshold or 0.0),
        margin=float(margin if margin is not None else spec.match_margin or 0.0),
    )


def open_gallery(config: Config, spec: ModelSpec, directory: Path | None = None) -> Gallery:
    """Open (or create) the gallery for recogniser ``spec``."""
    where = directory or Path(config.gallery.dir)
    return Gallery(where, spec.name, int(spec.embedding_size or 0), match_policy(config, spec), config.gallery)
