"""The per-track decision: waits for good faces, weighs attempts by quality, refuses ties and poor faces."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from storelens.apps.edge import build_pipeline
from storelens.config import Config
from storelens.edge.decide import Attempt, DecisionPolicy, TrackDecider, TrackEvidence
from storelens.edge.pipeline import CameraPipeline
from storelens.edge.visits import AnonymousRegistry, ArrivalCooldown
from storelens.edge_events import ArrivalEvent
from storelens.gallery.factory import open_gallery
from tests.helpers.staging import T0, face_crop, stage

POLICY = DecisionPolicy(min_quality=0.2, min_face_px=32, interval=timedelta(seconds=0.3), better_by=0.1, doubt=0.5,
                        max_attempts=12, min_evidence=1.5, strong=0.70, stranger_evidence=3.0)  # fmt: skip


def run(attempts: list[tuple[float, str | None, float]]) -> tuple[str | None, int]:
    """Feed (quality, named member, similarity) attempts; returns the decision and the attempt that made it."""
    decider, evidence = TrackDecider(POLICY), TrackEvidence()
    for i, (q, member, sim) in enumerate(attempts, 1):
        decided = decider.add(evidence, Attempt(q, member, member, sim, 0.3), T0 + timedelta(seconds=i), "test")
        if decided is not None:
            return decided, i
    return None, len(attempts)


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [
        ([(0.8, "A", 0.75)], ("A", 1)),  # one clear, strong attempt is enough
        ([(0.8, "A", 0.65)], (None, 1)),  # one clear attempt near the threshold is not
        ([(0.8, "A", 0.65), (0.8, "A", 0.66)], ("A", 2)),  # two agreeing ones are
        ([(0.3, "A", 0.75), (0.3, "A", 0.75)], (None, 2)),  # poor faces add little evidence
        ([(0.3, "A", 0.75)] * 3, ("A", 3)),  # ... but add up
        ([(0.9, "A", 0.8), (0.9, "B", 0.8)], ("A", 1)),  # decided at once: B comes too late to matter
        ([(0.6, "A", 0.69), (0.6, "B", 0.69), (0.6, "A", 0.69), (0.6, "B", 0.69)], (None, 4)),  # a tie waits
        ([(0.6, "A", 0.69), (0.6, "B", 0.69)] + [(0.6, "A", 0.69)] * 3, ("A", 4)),  # until A has twice B's
        ([(0.8, None, 0.4)] * 3 + [(0.8, "A", 0.66)] * 2, (None, 5)),  # three "nobody"s outweigh two weak "A"s
    ],
)
def test_evidence_table(attempts, expected) -> None:
    assert run(attempts) == expected


def test_wants_good_faces_paced_within_budget() -> None:
    decider, ev = TrackDecider(POLICY), TrackEvidence()
    assert decider.wants(ev, T0, 0.5, 60)
    assert not decider.wants(ev, T0, 0.1, 60)  # poor face
    assert not decider.wants(ev, T0, 0.9, 20)  # too small
    decider.add(ev, Attempt(0.5, None, None, 0.1, 0.0), T0, "test")
    assert not decider.wants(ev, T0 + timedelta(seconds=0.2), 0.9, 60)  # too soon after the last attempt
    assert not decider.wants(ev, T0 + timedelta(seconds=0.3), 0.55, 60)  # far from everyone: a like face is not tried
    assert decider.wants(ev, T0 + timedelta(seconds=0.3), 0.9, 60)
    ev.attempts = POLICY.max_attempts
    assert not decider.wants(ev, T0 + timedelta(seconds=9), 0.9, 60)  # budget spent


@pytest.mark.parametrize(
    ("first", "then", "wanted"),
    [
        (Attempt(0.7, None, "A", 0.2, 0.1), 0.75, False),  # far from every member: the same view is not tried again
        (Attempt(0.7, None, "A", 0.2, 0.1), 0.80, True),  # ... a better one is
        (Attempt(0.7, None, "A", 0.55, 0.1), 0.60, True),  # close to A (in doubt): any good face, paced
        (Attempt(0.7, "A", "A", 0.65, 0.1), 0.30, True),  # A named, not yet decided: any good face
        (Attempt(0.7, None, "A", 0.2, 0.1), 0.15, False),  # under the quality gate, whatever came before
    ],
)
def test_embeds_again_only_what_can_change_the_answer(first: Attempt, then: float, wanted: bool) -> None:
    decider, ev = TrackDecider(POLICY), TrackEvidence()
    decider.add(ev, first, T0, "test")
    assert decider.wants(ev, T0 + timedelta(seconds=1), then, 60) is wanted


def test_good_faces_that_name_nobody_settle_a_stranger() -> None:
    decider, ev = TrackDecider(POLICY), TrackEvidence()
    for i in range(3):
        decider.add(ev, Attempt(0.8, None, "A", 0.3, 0.2), T0 + timedelta(seconds=i), "test")
    assert not ev.stranger and decider.due(ev, T0 + timedelta(seconds=9))  # 2.4 of 3.0: still looking
    decider.add(ev, Attempt(0.8, None, "A", 0.3, 0.2), T0 + timedelta(seconds=3), "test")
    assert ev.stranger and ev.member is None and not decider.due(ev, T0 + timedelta(seconds=9))
    assert len(ev.vectors) == 0  # vectors are the pipeline's to keep (keep_vector), not the decider's
    named, other = TrackEvidence(), TrackDecider(POLICY)
    other.add(named, Attempt(0.6, "A", "A", 0.65, 0.3), T0, "test")  # one attempt tied to a member ...
    for i in range(6):
        other.add(named, Attempt(0.8, None, "A", 0.3, 0.2), T0 + timedelta(seconds=i + 1), "test")
    assert not named.stranger and other.due(named, T0 + timedelta(seconds=9))  # ... keeps the track in doubt


def test_evidence_keeps_few_vectors_and_drops_them_for_a_member() -> None:
    decider, ev = TrackDecider(POLICY), TrackEvidence()
    for q in (0.3, 0.9, 0.5, 0.7, 0.4):
        ev.keep_vector(q, np.full(4, q, np.float32))
    assert sorted(q for q, _ in ev.vectors) == [0.5, 0.7, 0.9]
    decider.add(ev, Attempt(0.9, "A", "A", 0.9, 0.1), T0, "test")
    assert ev.member == "A" and ev.vectors == []


@pytest.fixture
def pipeline(face_models, members_gallery, tmp_path):
    directory = tmp_path / "g"
    shutil.copytree(members_gallery, directory)
    config = Config.model_validate(
        {"store": {"id": "s"}, "cameras": [{"id": "entrance", "source": "x"}], "edge": {"embed_interval_seconds": 0.3}}
    )
    gallery = open_gallery(config, face_models.recogniser_spec, directory)
    yield build_pipeline(
        config,
        config.cameras[0],
        face_models,
        gallery,
        ArrivalCooldown(30),
        AnonymousRegistry(12, 10, gallery.policy.visitor_match),
    )
    gallery.close()


def play(pipeline: CameraPipeline, frames) -> list[tuple[int, str]]:
    """Run the frames; the (frame index, member) of every arrival, the track ended at the end."""
    arrivals = []
    last = None
    for frame in frames:
        arrivals += [(frame.index, e.member_id) for e in pipeline.process(frame) if isinstance(e, ArrivalEvent)]
        last = frame.ts
    arrivals += [(-1, e.member_id) for e in pipeline.finish(last) if isinstance(e, ArrivalEvent)]
    return arrivals


def crops(face_models, photos, *names: str) -> list[np.ndarray]:
    return [face_crop(Path(photos[n]), face_models) for n in names]


def test_member_whose_first_faces_are_poor_is_announced_once_when_clear(pipeline, face_models, photos) -> None:
    (obama,) = crops(face_models, photos, "obama2.jpg")
    # Walking up behind a display that hides the lower face, each face larger than the last ...
    poor = [stage(obama, i, w, occlude=0.5) for i, w in enumerate((60, 72, 86, 104, 124, 150))]
    # ... then stepping back, clear, for three seconds. The earlier rule spent its three attempts on the
    # growing occluded faces and waited for a face 15% "better" than the largest: no arrival at all.
    clear = [stage(obama, 6 + i, w) for i, w in enumerate((130, 112, 100, *(90,) * 12))]
    arrivals = play(pipeline, poor + clear)
    assert [m for _, m in arrivals] == ["M-OBAMA"]


def test_track_whose_faces_are_all_poor_announces_no_one(pipeline, face_models, photos) -> None:
    (obama,) = crops(face_models, photos, "obama2.jpg")
    # Coming closer out of focus, then lingering out of focus: never a face to trust. (The earlier rule
    # named him from two blurred faces, the way it names a blurred stranger.)
    sizes = (40, 46, 52, 56, *(60,) * 16)
    blurs = (3.0, 2.6, 2.2, *(2.1,) * 17)
    frames = [stage(obama, i, w, blur=b) for i, (w, b) in enumerate(zip(sizes, blurs, strict=True))]
    assert play(pipeline, frames) == []
    assert pipeline.tracks == {}  # the track ended and its state was dropped


def test_two_members_on_one_track_wait_until_one_clearly_wins(pipeline, face_models, photos) -> None:
    obama, biden = crops(face_models, photos, "obama2.jpg", "biden.jpg")
    # Two frames of each in turn (attempts are 0.3 s apart at 5 fps: every other frame), then Obama alone.
    tied = [stage(obama if (i // 2) % 2 == 0 else biden, i, 90) for i in range(12)]
    assert play_without_finish(pipeline, tied) == []
    later = [stage(obama, 12 + i, 90) for i in range(16)]
    arrivals = play(pipeline, later)
    assert [m for _, m in arrivals] == ["M-OBAMA"]


def play_without_finish(pipeline: CameraPipeline, frames) -> list[tuple[int, str]]:
    return [(f.index, e.member_id) for f in frames for e in pipeline.process(f) if isinstance(e, ArrivalEvent)]
