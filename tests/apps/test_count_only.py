"""Count-only (``recognition.enabled = false``): footfall from the sample video without one face embedded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from storelens.apps.edge import build_pipeline
from storelens.config import Config
from storelens.edge.capture import FileReader
from storelens.edge.visits import AnonymousRegistry, ArrivalCooldown
from storelens.gallery.factory import open_gallery
from storelens.messages import FaceModels

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


class CountingEmbedder:
    """The real embedder, counting the faces it is asked to embed."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.faces = inner, 0

    def chips(self, frame: Any, faces: Any) -> Any:
        self.faces += len(faces)
        return self.inner.chips(frame, faces)

    def embed_chips(self, chips: Any) -> Any:
        self.faces += len(chips)
        return self.inner.embed_chips(chips)

    def embed(self, frame: Any, faces: Any) -> Any:
        self.faces += len(faces)
        return self.inner.embed(frame, faces)


@pytest.mark.parametrize("enabled", [False, True])
def test_count_only_embeds_nothing_and_still_counts(video: Path, truth, face_models, members_gallery, tmp_path,
                                                     enabled: bool) -> None:  # fmt: skip
    import shutil

    shutil.copytree(members_gallery, tmp_path / "g")
    config = Config.model_validate({
        "store": {"id": "s"}, "recognition": {"enabled": enabled},
        "cameras": [{"id": "entrance", "source": str(video), "entry_line": truth["camera"]["entry_line"]}],
    })  # fmt: skip
    spy = CountingEmbedder(face_models.embedder)
    fm = FaceModels(face_models.detector, spy, face_models.detector_spec, face_models.recogniser_spec)
    gallery = open_gallery(config, fm.recogniser_spec, tmp_path / "g")
    pipeline = build_pipeline(config, config.cameras[0], fm, gallery, ArrivalCooldown(30),
                              AnonymousRegistry(12, 10, gallery.policy.visitor_match))  # fmt: skip
    reader = FileReader("entrance", str(video), 5.0, start=T0)
    events: list[Any] = []
    last = T0
    while (frame := reader.next()) is not None:
        events += pipeline.process(frame)
        last = frame.ts
    events += pipeline.finish(last)
    gallery.close()
    entries = sum(e.entries for e in events if e.type == "footfall")
    arrivals = sorted(e.member_id for e in events if e.type == "vip_arrival")
    assert abs(entries - truth["expected"]["entries"]) <= 1  # counting does not need recognition
    if enabled:
        assert spy.faces > 0 and arrivals == sorted(truth["expected"]["arrivals"])
    else:
        assert spy.faces == 0 and arrivals == []  # not one face embedded, so nobody recognised
        assert not [e for e in events if e.type == "visitor"]  # and no stranger re-identified
