"""Wiring: a configured gallery for the configured recogniser."""

from __future__ import annotations

from pathlib import Path

from storelens.config import Config
from storelens.gallery.gallery import Gallery
from storelens.manifest import ModelSpec
from storelens.stage_messages import MatchPolicy


def _pick(configured: float | None, manifest: float | None) -> float:
    return float(configured if configured is not None else manifest or 0.0)


def match_policy(config: Config, spec: ModelSpec) -> MatchPolicy:
    """Every similarity threshold: the config's where set (calibration writes some), else the model's."""
    return MatchPolicy(
        threshold=_pick(config.recognition.match_threshold, spec.match_threshold),
        margin=_pick(config.recognition.match_margin, spec.match_margin),
        strong_margin=_pick(config.edge.strong_margin, spec.strong_margin),
        visitor_match=_pick(config.edge.visitor_match_threshold, spec.visitor_match_threshold),
        near_duplicate=_pick(config.gallery.near_duplicate, spec.near_duplicate),
        lookalike=_pick(config.recognition.lookalike_threshold, spec.lookalike_threshold),
    )


def open_gallery(config: Config, spec: ModelSpec, directory: Path | None = None) -> Gallery:
    """Open (or create) the gallery for recogniser ``spec``."""
    where = directory or Path(config.gallery.dir)
    return Gallery(where, spec.name, int(spec.embedding_size or 0), match_policy(config, spec), config.gallery)
