"""The ground floor's helpers every process shares: the worker shape, draining a batch, a stop sequence, a payload."""

from __future__ import annotations

import logging
import queue
import threading
import time

import pytest

from storelens.bounds import MAX_PAYLOAD_BYTES
from storelens.edge_events import StatusEvent, parse_event_payload, parse_payload
from storelens.errors import PayloadError
from storelens.workers import Periodic, drain, stop_in_order


class Counter(Periodic):
    def __init__(self, every: float) -> None:
        super().__init__("counter", every)
        self.rounds = 0
        self.last_round = False
        self.ticked = threading.Event()

    def tick(self) -> None:
        self.rounds += 1
        self.ticked.set()

    def last(self) -> None:
        self.last_round = True


def test_a_poke_runs_the_next_round_now_and_stop_runs_the_last() -> None:
    worker = Counter(every=3600)
    worker.start()
    assert not worker.ticked.wait(0.3)  # an hour's wait: no round yet
    worker.poke()
    assert worker.ticked.wait(5)
    started = time.monotonic()
    worker.stop()
    assert time.monotonic() - started < 5 and worker.rounds == 1 and worker.last_round


@pytest.mark.parametrize(
    ("waiting", "most", "taken", "left"), [(0, 5, [], 0), (3, 5, [0, 1, 2], 0), (7, 5, [0, 1, 2, 3, 4], 2)]
)
def test_drain_takes_a_batch_without_waiting(waiting: int, most: int, taken: list[int], left: int) -> None:
    source: queue.Queue[int] = queue.Queue()
    for i in range(waiting):
        source.put(i)
    assert drain(source, most) == taken and source.qsize() == left


def test_a_failing_stop_step_does_not_keep_the_others_from_running(caplog: pytest.LogCaptureFixture) -> None:
    done: list[str] = []

    def broken() -> None:
        raise OSError("port in use\nsecond line")

    with caplog.at_level(logging.ERROR):
        stop_in_order([("serving", lambda: done.append("serving")), ("broker", broken),
                       ("database", lambda: done.append("database"))])  # fmt: skip
    assert done == ["serving", "database"]
    assert "stopping broker failed: OSError: port in use" in caplog.text and "second line" not in caplog.text


STATUS = StatusEvent(store_id="s", camera_id="door", state="online").model_dump_json().encode()


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        (b"x" * (MAX_PAYLOAD_BYTES + 1), "payload"),
        (b"not json", "payload"),
        (STATUS.replace(b'"online"', b'"dancing"'), "state"),
        (b"[" * 100_000, "payload"),  # deeply nested: one line, no RecursionError
    ],
    ids=["too-large", "not-json", "bad-field", "deeply-nested"],
)
def test_a_payload_is_parsed_into_its_model_or_refused_in_one_line(payload: bytes, where: str) -> None:
    assert parse_payload(StatusEvent, STATUS).state == "online"
    with pytest.raises(PayloadError) as refused:
        parse_payload(StatusEvent, payload)
    assert refused.value.where == where and "\n" not in str(refused.value)
    with pytest.raises(PayloadError):
        parse_event_payload(payload)
