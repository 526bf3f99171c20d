"""Head office's batched ingest: many events per transaction, each message acknowledged to the broker only
after its batch is committed; a database that is away keeps the batch unacknowledged until it is back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from storelens.books.event_log import EventLog
from storelens.books.ingest import Ingest
from storelens.edge_events import ArrivalEvent, VisitorEvent, topic
from storelens.transport.base import AckedHandler


class AckingFake:
    """The transport seam with manual acknowledgement (in memory): records which messages were acknowledged."""

    def __init__(self) -> None:
        self.handlers: list[tuple[str, AckedHandler]] = []
        self.acked: list[int] = []
        self.on_connect: Callable[[], None] = lambda: None
        self.on_ack: Callable[[int], None] = lambda mid: None
        self.on_lost: Callable[[], None] = lambda: None
        self.lock = threading.Lock()

    def subscribe_acked(self, pattern: str, handler: AckedHandler) -> None:
        self.handlers.append((pattern, handler))

    def subscribe(self, pattern: str, handler: object) -> None:
        raise AssertionError("the batched ingest subscribes with manual acknowledgement")

    def deliver(self, mid: int, name: str, payload: bytes) -> None:
        def ack() -> None:
            with self.lock:
                self.acked.append(mid)

        for _, handler in self.handlers:
            handler(name, payload, ack)

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def is_connected(self) -> bool:
        return True

    def wait_subscribed(self, timeout: float) -> bool:
        return True

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        return 0


def visitor(i: int) -> tuple[str, bytes]:
    event = VisitorEvent(
        store_id="s1", camera_id="door", anon_id=f"{i:016x}", track_id=i, returning=False, entered=True
    )
    return topic("s1", "door", "visitor"), event.model_dump_json().encode()


def wait_for(check: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    return check()


@pytest.fixture
def setup(tmp_path: Path):
    store = EventLog(f"sqlite:///{tmp_path / 'hq.sqlite'}")
    fake = AckingFake()
    ingest = Ingest(store, fake, "+", batch=50)  # type: ignore[arg-type]
    ingest.start()
    yield store, fake, ingest
    ingest.stop()
    store.close()


def test_every_message_is_acknowledged_once_stored_and_each_event_kept_once(setup) -> None:
    store, fake, ingest = setup
    messages = [visitor(i) for i in range(120)]
    messages.append(messages[7])  # a redelivery
    messages.append((topic("s1", "door", "visitor"), b"{broken"))  # refused, acknowledged, not stored
    lying = ArrivalEvent(store_id="s2", camera_id="door", member_id="M-1", similarity=0.9, track_id=1)
    messages.append((topic("s1", "door", "arrival"), lying.model_dump_json().encode()))  # another store's
    for mid, (name, payload) in enumerate(messages):
        fake.deliver(mid, name, payload)
    assert wait_for(lambda: len(fake.acked) == len(messages))
    assert sorted(fake.acked) == list(range(len(messages)))  # each exactly once
    assert store.count() == 120 and ingest.duplicates == 1 and ingest.rejected == 2


def test_nothing_is_acknowledged_while_the_database_is_away(setup, monkeypatch) -> None:
    store, fake, _ = setup
    real = store.add_many
    away = threading.Event()
    away.set()

    def flaky(models):  # type: ignore[no-untyped-def]
        if away.is_set():
            raise OperationalError("INSERT", {}, Exception("connection refused"))
        return real(models)

    monkeypatch.setattr(store, "add_many", flaky)
    for mid in range(10):
        fake.deliver(mid, *visitor(mid))
    time.sleep(0.5)
    assert fake.acked == [] and store.count() == 0  # held, unacknowledged: the broker still owns them
    away.clear()
    assert wait_for(lambda: len(fake.acked) == 10)
    assert store.count() == 10


def test_a_stop_stores_what_was_taken(tmp_path: Path) -> None:
    store = EventLog(f"sqlite:///{tmp_path / 'hq.sqlite'}")
    fake = AckingFake()
    ingest = Ingest(store, fake, "+", batch=1000)  # type: ignore[arg-type]
    for mid in range(30):  # taken before the writer ever ran
        fake.deliver(mid, *visitor(mid))
    ingest.start()
    ingest.stop()
    assert store.count() == 30 and sorted(fake.acked) == list(range(30))
    store.close()
