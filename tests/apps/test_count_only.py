"""What the privacy rules let the pipeline do on the sample video.

Count-only (``recognition.enabled = false``) and the eu profile look for no face at all (people are
counted from their bodies: 0 face detections, 0 embeddings, the same entries); the eu profile
recognises members in a declared members-only space; cn and us-il re-identify strangers only with the
notice sign posted. Entries match the truth in every case.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from storelens.apps.edge import build_pipeline
from storelens.config import Config
from storelens.edge.visits import AnonymousRegistry, ArrivalCooldown
from storelens.gallery.factory import open_gallery
from storelens.stage_messages import FaceModels
from tests.helpers.video import play

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


# name, config sections, camera settings -> faces embedded?, members named?, unique visitors counted?
CASES = [
    ("recognition", {}, {}, True, True, True),
    ("count-only", {"recognition": {"enabled": False}}, {}, False, False, False),
    ("eu", {"privacy": {"profile": "eu"}}, {}, False, False, False),
    ("eu, members-only space", {"privacy": {"profile": "eu"}}, {"members_only": True}, True, True, False),
    ("cn without the notice sign", {"privacy": {"profile": "cn"}}, {}, True, True, False),
]  # fmt: skip


@pytest.mark.parametrize(("name", "sections", "camera", "embeds", "names", "unique"), CASES, ids=[c[0] for c in CASES])
def test_what_the_privacy_rules_let_the_pipeline_do(video: Path, truth, face_models, person_detector, members_gallery,
                                                    tmp_path, name, sections, camera, embeds, names,
                                                    unique) -> None:  # fmt: skip
    import shutil

    shutil.copytree(members_gallery, tmp_path / "g")
    entrance = {"id": "entrance", "source": str(video), "entry_line": truth["camera"]["entry_line"], **camera}
    config = Config.model_validate({"store": {"id": "s"}, "cameras": [entrance], **sections})
    spy = CountingEmbedder(face_models.embedder)
    fm = FaceModels(face_models.detector, spy, face_models.detector_spec, face_models.recogniser_spec)
    gallery = open_gallery(config, fm.recogniser_spec, tmp_path / "g")
    visitors = AnonymousRegistry(12, 10, gallery.policy.visitor_match)
    pipeline = build_pipeline(
        config, config.cameras[0], fm, gallery, ArrivalCooldown(30), visitors, people=person_detector
    )
    events = play(pipeline, video, T0)
    gallery.close()
    footfall = [e for e in events if e.type == "footfall"]
    entries = sum(e.entries for e in footfall)
    arrivals = sorted(e.member_id for e in events if e.type == "vip_arrival")
    assert entries == truth["expected"]["entries"]  # counting never needs a face
    assert sum(e.exits for e in footfall) == truth["expected"]["exits"]
    assert sum(e.passers_by for e in footfall) == truth["expected"]["passers_by"]
    assert (spy.faces > 0) == embeds  # count-only: not one face embedded (the embedder's own count)
    assert (pipeline.face_detections > 0) == embeds  # ... nor even looked for
    assert arrivals == (sorted(truth["expected"]["arrivals"]) if names else [])
    assert all(e.unique_visitors_available == unique for e in footfall)
    if unique:
        assert abs(sum(e.unique_visitors for e in footfall) - truth["expected"]["unique_visitors"]) <= 1
    else:  # no stranger re-identified: no visitor event, no token, nothing remembered
        assert not [e for e in events if e.type == "visitor"]
        assert all(e.unique_visitors == 0 and not e.visitor_tokens for e in footfall)
        assert len(visitors) == 0
