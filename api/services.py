"""What the API's routes use: the event store, the live hub, the gallery and the face models.

The gallery and the face models are loaded on first use (enrolment by photo upload).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from api.live import LiveHub
from api.reports import parse_ts as parse_iso
from api.reports import store_day
from api.store import EventStore, StoredEvent
from gallery.factory import open_gallery
from gallery.gallery import Gallery
from gallery.records import iso, utc_now
from models.loader import FaceModels, load_face_models
from models.manifest import load_manifest
from storelens.config import Config


class Services:
    """Shared state of one API process.

    Args:
        config: the whole configuration.
        store: the event database.
    """

    def __init__(self, config: Config, store: EventStore) -> None:
        self.config = config
        self.store = store
        self.hub = LiveHub()
        self._fm: FaceModels | None = None
        self._gallery: Gallery | None = None
        self._lock = threading.Lock()
        self.photos_dir = Path(config.api.photos_dir)
        self.mqtt_subscribed: threading.Event | None = None  # set by whoever wires the MQTT ingest

    def mqtt_state(self) -> str:
        """``subscribed`` when the ingest receives the store's events, ``connecting``, or ``no ingest``."""
        if self.mqtt_subscribed is None:
            return "no ingest"
        return "subscribed" if self.mqtt_subscribed.is_set() else "connecting"

    def face_models(self) -> FaceModels:
        """Detector and embedder, loaded once."""
        with self._lock:
            if self._fm is None:
                self._fm = load_face_models(self.config)
            return self._fm

    def gallery(self) -> Gallery:
        """The store's gallery, opened once (it picks up other processes' changes by itself)."""
        with self._lock:
            if self._gallery is None:
                manifest = load_manifest()
                spec = manifest.get(manifest.pack(self.config.models.pack).recogniser)
                self._gallery = open_gallery(self.config, spec)
            return self._gallery

    def card(self, member_id: str) -> dict[str, Any]:
        """What an associate sees about a member (empty fields when only enrolled, without a profile)."""
        profile = self.store.member(member_id) or {"member_id": member_id, "name": member_id, "tier": "",
                                                   "phone": None, "member_code": None, "sizes": {}, "preferences": "",
                                                   "notes": "", "photo_consent": False, "photo": None}  # fmt: skip
        visits = self.store.visits(member_id)
        photo = f"/api/v1/members/{member_id}/photo" if profile["photo_consent"] and profile["photo"] else None
        return {
            "member_id": member_id, "name": profile["name"], "tier": profile["tier"], "sizes": profile["sizes"],
            "preferences": profile["preferences"], "notes": profile["notes"], "member_code": profile["member_code"],
            "photo_url": photo,
            "last_visit": visits[1] if len(visits) > 1 else None, "visits": len(visits),
        }  # fmt: skip

    def arrival_message(self, seq: int, event: dict[str, Any]) -> dict[str, Any]:
        """A live/replayed arrival: the event, the member card, who took it, and the visit's cooldown."""
        taken = self.store.taken([event["event_id"]]).get(event["event_id"])
        until = parse_iso(event["ts"]) + timedelta(minutes=self.config.edge.arrival_cooldown_minutes)
        return {"kind": "arrival", "seq": seq, "event": event, "card": self.card(event["member_id"]),
                "taken": {"by": taken[0], "at": taken[1]} if taken else None, "cooldown_until": iso(until)}  # fmt: skip

    def todays_arrivals(self, since_seq: int = 0) -> list[StoredEvent]:
        """Arrivals of the store's day (from its local midnight) after ``since_seq``, oldest first.

        An iPad opened in the morning shows today's arrivals, not yesterday's; one that reconnects
        gets what it missed.
        """
        _, start, _ = store_day(self.config.store.timezone, utc_now())
        return self.store.since(since_seq, "vip_arrival", ts_from=iso(start))

    def push(self, seq: int, event: dict[str, Any]) -> None:
        """What the ingest does with each new event: arrivals (with card) and footfall updates go to the iPads."""
        if event["type"] == "vip_arrival":
            self.hub.publish(self.arrival_message(seq, event))
        elif event["type"] == "footfall":
            self.hub.publish({"kind": "footfall", "seq": seq})

    def close(self) -> None:
        """Close the gallery and the database."""
        if self._gallery is not None:
            self._gallery.close()
        self.store.close()
