"""People tracked, faces attached: which face is whose, and a person kept through a hidden body."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from storelens.edge.track import PersonTracker, attach_faces
from storelens.stage_messages import Detections, Frame, People

FRAME = Frame(np.zeros((720, 1280, 3), np.uint8), "c", 0, datetime(2026, 12, 6, tzinfo=UTC))


def people(*boxes: tuple[float, float, float, float]) -> People:
    return People(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.8, np.float32))


def faces(*boxes: tuple[float, float, float, float], scores: tuple[float, ...] | None = None) -> Detections:
    n = len(boxes)
    return Detections(np.array(boxes, np.float32).reshape(-1, 4),
                      np.array(scores or (0.9,) * n, np.float32), np.zeros((n, 5, 2), np.float32))  # fmt: skip


BODY = (400, 100, 600, 600)  # its head expected near (500, 175)


@pytest.mark.parametrize(
    ("bodies", "found", "owners"),
    [
        ([BODY], [(470, 120, 530, 200)], [0]),  # the head of the body
        ([BODY], [(470, 420, 530, 500)], [-1]),  # low in the box (a face on a shirt, someone behind): not its head
        ([BODY], [(700, 120, 760, 200)], [-1]),  # beside it: a person of its own
        ([BODY], [(405, 300, 445, 340), (470, 120, 530, 200)], [-1, 0]),  # the nearer the head wins, not the first
        ([BODY, (380, 110, 560, 620)], [(470, 120, 530, 200), (440, 130, 500, 210)], [0, 1]),  # two bodies, two heads
        ([], [(470, 120, 530, 200)], [-1]),  # no body: the face is the person
    ],
    ids=["head", "low", "beside", "nearest-head", "two-bodies", "no-body"],
)
def test_a_face_belongs_to_the_body_whose_head_it_is(bodies, found, owners) -> None:
    assert attach_faces(people(*bodies), faces(*found)).tolist() == owners


def test_a_person_whose_body_is_hidden_keeps_their_track_by_their_face() -> None:
    tracker = PersonTracker(fps=5.0, lost_seconds=1.5)
    tracker.update(FRAME, people(BODY), faces((470, 120, 530, 200)))  # a track is confirmed on its second frame
    first = tracker.update(FRAME, people(BODY), faces((470, 120, 530, 200)))
    (person,) = first.ids.tolist()
    for step in range(1, 4):  # the body behind a rack for 0.6 s; the face, moving down, still seen
        dy = 12 * step
        hidden = tracker.update(FRAME, People.empty(), faces((470, 120 + dy, 530, 200 + dy)))
        assert hidden.ids.tolist() == [person] and hidden.face_ids.tolist() == [person]
        assert hidden.boxes[0].tolist() == pytest.approx([400, 100 + dy, 600, 600 + dy])  # the body moved with it
    back = tracker.update(FRAME, people((400, 150, 600, 650)), faces((470, 170, 530, 250)))
    assert back.ids.tolist() == [person]


def test_a_stranger_s_face_does_not_continue_someone_else_s_body() -> None:
    tracker = PersonTracker(fps=5.0, lost_seconds=1.5)
    tracker.update(FRAME, people(BODY), faces((470, 120, 530, 200)))
    (person,) = tracker.update(FRAME, people(BODY), faces((470, 120, 530, 200))).ids.tolist()
    # the body is gone; a face shows up in its head region but far from where its face was: someone else
    other = tracker.update(FRAME, People.empty(), faces((410, 230, 450, 270)))
    assert person not in other.ids.tolist()
    assert tracker.bodies.keys() <= {person}  # state kept for the body track only, evicted when it is lost


def test_body_state_is_evicted_when_the_track_is_lost() -> None:
    tracker = PersonTracker(fps=5.0, lost_seconds=0.4)  # 2 frames
    tracker.update(FRAME, people(BODY), faces())
    for _ in range(4):
        tracker.update(FRAME, People.empty(), faces())
    assert tracker.bodies == {}
