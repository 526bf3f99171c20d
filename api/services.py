"""What the API's routes use: the store's books (events, commerce, access log, tokens), live hub, gallery, models.

The gallery and the face models are loaded on first use (enrolment by photo upload), by the loaders
the process's wiring passes in (``storelens.apps.api``).
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from storelens.api.books import StoreBooks
from storelens.api.live import LiveHub
from storelens.api.member_imports import ImportJobs
from storelens.api.metrics import ApiMetrics
from storelens.books.event_log import StoredEvent
from storelens.clock import iso, utc_now
from storelens.config import Config
from storelens.edge_events import StatusEvent
from storelens.errors import GalleryError, StoreLensError
from storelens.face_path import FacePath, face_path
from storelens.gallery.enrol import Enroller, PhotoCheck, enroll_photos
from storelens.gallery.gallery import Gallery
from storelens.gallery.records import Consent, EnrolmentResult, MemberInfo
from storelens.i18n import N_, Translator, drawable_translator
from storelens.stage_messages import FaceModels
from storelens.web.ratelimit import FailedTokens
from storelens.web.reports import parse_ts as parse_iso
from storelens.web.reports import store_day

# What the access log records of a read, each a catalogued word (the console shows it in its reader's language):
READS = (N_("card"), N_("listing"), N_("consent"), N_("photo"), N_("export"))  # what was read
PURPOSES = (N_("arrival"), N_("lookup"), N_("admin"), N_("search"))  # why


class Services:
    """Shared state of one API process.

    Args:
        config: the whole configuration.
        books: the store's database: events, commerce, access log, tokens.
        face_models: loads the detector and embedder (called once, on first use).
        gallery: opens the store's gallery (called once, on first use).
    """

    def __init__(
        self,
        config: Config,
        books: StoreBooks,
        face_models: Callable[[], FaceModels] | None = None,
        gallery: Callable[[], Gallery] | None = None,
    ) -> None:
        self.config = config
        self.books = books
        self._load_fm = face_models
        self._open_gallery = gallery
        self.hub = LiveHub()
        self.metrics = ApiMetrics()
        self.failed_tokens = FailedTokens()
        self.member_imports = ImportJobs()  # the console's bulk enrolments
        self._fm: FaceModels | None = None
        self._gallery: Gallery | None = None
        self._lock = threading.Lock()
        self.photos_dir = Path(config.api.photos_dir)
        self.mqtt_subscribed: threading.Event | None = None  # set by whoever wires the MQTT ingest
        self.after_import: Callable[[], None] = lambda: None  # the wiring pokes the insights worker here
        # the cameras' last retained status (online, reconnecting, offline), for configured cameras only
        self.camera_status: dict[str, StatusEvent] = {}
        # a camera's calibration snapshot (PNG), from the wiring, which can reach the stages that draw it
        self.snapshot: Callable[[str, Translator], bytes] | None = None
        # reports and charts: in English where the store's script cannot be drawn here (its font missing)
        self.translator = drawable_translator(config.store.locale, ZoneInfo(config.store.timezone))

    def mqtt_state(self) -> str:
        """``subscribed`` when the ingest receives the store's events, ``connecting``, or ``no ingest``."""
        if self.mqtt_subscribed is None:
            return "no ingest"
        return "subscribed" if self.mqtt_subscribed.is_set() else "connecting"

    def face_models(self) -> FaceModels:
        """Detector and embedder, loaded once."""
        with self._lock:
            if self._fm is None:
                if self._load_fm is None:
                    raise StoreLensError("this API process was started without face models")
                self._fm = self._load_fm()
            return self._fm

    def face_path(self) -> FacePath:
        """The one face path over the face models (a new one each call: its dark lift keeps no state worth sharing)."""
        return face_path(self.face_models(), self.config.detection)

    def gallery(self) -> Gallery:
        """The store's gallery, opened once (it picks up other processes' changes by itself)."""
        with self._lock:
            if self._gallery is None:
                if self._open_gallery is None:
                    raise StoreLensError("this API process was started without a gallery")
                self._gallery = self._open_gallery()
            return self._gallery

    def log_read(self, member_id: str, who: Any, what: str, why: str) -> None:
        """Record that ``who`` (a principal: name and role) read ``what`` of a member, and why.

        Raises:
            ValueError: ``what`` or ``why`` is not one of the catalogued words (:data:`READS`, :data:`PURPOSES`).
        """
        if what not in READS or why not in PURPOSES:
            raise ValueError(f"access log: {what!r}/{why!r} is not a read this log knows")
        self.books.access.log_access(member_id, who.name, who.role, what, why)

    def enrol(self, member_id: str, consent: Consent, photos: list[Path]) -> EnrolmentResult:
        """Enrol a member's photos into the gallery; keep the first as the card photo when they consented to one.

        Raises:
            EnrolmentError: a photo is unusable or looks like another member (nothing is stored).
        """
        profile = self.books.commerce.member(member_id)
        member = MemberInfo(member_id=member_id, name=profile["name"] if profile else "")
        result = enroll_photos(
            self.gallery(),
            Enroller(self.face_path(), self.config.enrolment, self.config.privacy_rules()),
            member,
            consent,
            photos,
        )
        if profile and profile["photo_consent"] and not profile["photo"]:
            self.photos_dir.mkdir(parents=True, exist_ok=True)
            dest = self.photos_dir / (hashlib.sha256(member_id.encode()).hexdigest()[:32] + ".jpg")
            shutil.copyfile(photos[0], dest)
            self.books.commerce.put_member(member_id, {"photo": str(dest)})
        return result

    def note_status(self, status: StatusEvent) -> bool:
        """Keep a configured camera's latest status (the ingest calls this); False for a camera not configured."""
        if not any(c.id == status.camera_id for c in self.config.cameras):
            return False
        self.camera_status[status.camera_id] = status
        return True

    def check_photo(self, photo: Path) -> PhotoCheck:
        """The enrolment checks' verdict on one photo, nothing stored (shown before saving).

        Raises:
            EnrolmentError: the photo cannot be read as an image.
        """
        return Enroller(self.face_path(), self.config.enrolment, self.config.privacy_rules()).check(photo)

    def search_members(self, text: str, limit: int) -> list[dict[str, Any]]:
        """Members whose profile (name, id, code, phone) or gallery entry (id, name) holds ``text``.

        Each with whether the gallery holds their face (``vectors``); at most ``limit``, by name.
        """
        found = {row["member_id"]: row | {"vectors": 0} for row in self.books.commerce.search(text, limit)}
        needle = text.casefold()
        try:
            records = self.gallery().members()
        except StoreLensError:  # an API without a gallery lists profiles only
            records = []
        for record in records:
            if record.member_id in found:
                found[record.member_id]["vectors"] = record.vectors
            elif needle in record.member_id.casefold() or needle in record.name.casefold():
                found[record.member_id] = {"member_id": record.member_id, "name": record.name, "tier": "",
                                           "member_code": None, "vectors": record.vectors}  # fmt: skip
        return sorted(found.values(), key=lambda r: (r["name"].casefold(), r["member_id"]))[:limit]

    def member_list(self, sort: str, descending: bool, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """One page of every member (profiles and enrolled faces), sorted; the total, and the page's rows.

        Each row: member id, name, tier, face vectors, when enrolled, last seen and the consent's reference and
        purpose (None where the member has no face enrolled). Sorted by ``sort`` (name, member_id, enrolled_at,
        last_seen_at, consent_reference), members without the value last either way.
        """
        rows: dict[str, dict[str, Any]] = {}
        for p in self.books.commerce.profiles():
            rows[p["member_id"]] = {**p, "vectors": 0, "enrolled_at": None, "last_seen_at": None,
                                    "consent_reference": None, "purpose": None}  # fmt: skip
        try:
            records = self.gallery().members()
        except StoreLensError:  # an API without a gallery lists profiles only
            records = []
        for r in records:
            row = rows.setdefault(r.member_id, {"member_id": r.member_id, "name": r.name, "tier": "",
                                                "member_code": None})  # fmt: skip
            row.update(name=row["name"] or r.name, vectors=r.vectors, enrolled_at=r.enrolled_at,
                       last_seen_at=r.last_seen_at, consent_reference=r.consent_reference,
                       purpose=r.purpose)  # fmt: skip
        present = [r for r in rows.values() if r[sort] not in (None, "")]
        absent = [r for r in rows.values() if r[sort] in (None, "")]

        def key(r: dict[str, Any]) -> tuple[str, str]:
            return (str(r[sort]).casefold(), r["member_id"])

        ordered = sorted(present, key=key, reverse=descending) + sorted(absent, key=lambda r: r["member_id"])
        return len(ordered), ordered[offset : offset + limit]

    def erase(self, member_id: str, report: bool = True) -> tuple[str, str, dict[str, int]] | None:
        """Erase every trace of a member in the gallery, the card photo and the books.

        The access log keeps its entries under the receipt's id instead of the member id. An erasure asked at
        this store is reported to head office (``report``), which erases the member chain-wide, whether or not
        this box held their biometrics; one head office asked for (the chain agent) is not.

        Returns:
            The receipt id, when it happened and what was removed (counts per kind), or None when nothing
            was held.
        """
        receipt_id = f"erasure-{uuid.uuid4().hex[:16]}"
        removed: dict[str, int] = {}
        at = ""
        try:
            receipt = self.gallery().remove(member_id, "erasure request", "erased" if report else None)
            removed.update(
                vectors=receipt.removed_vectors,
                gallery_photos=receipt.removed_photos,
                consents=receipt.removed_consents,
            )
            at = receipt.at
        except GalleryError:  # no biometrics enrolled: the rest may still hold a profile or visits
            if report:  # other boxes may hold them
                self.gallery().report(member_id, "erased", "erasure request")
        profile = self.books.commerce.member(member_id)
        if profile and profile["photo"]:
            Path(profile["photo"]).unlink(missing_ok=True)
            removed["card_photo"] = 1
        removed.update({k: int(v) for k, v in self.books.erase_member(member_id, receipt_id).items()})
        if not any(removed.values()):
            return None
        return receipt_id, at or iso(utc_now()), removed

    def subject_access(self, member_id: str, who: Any) -> dict[str, Any] | None:
        """Everything held on a member, for their access request; never the face vectors themselves.

        Returns:
            Profile, consent, biometrics held (how many vectors, on which box, since when), visits, purchases
            with their lines, the value segment and recommendations made, and the access log; None when
            nothing at all is held.
        """
        profile = self.books.commerce.member(member_id)
        record = self.gallery().templates.member(member_id)
        visits = self.books.events.visits(member_id, limit=100_000)
        log = self.books.access.access_log(member_id)
        purchases = self.books.commerce.purchases(member_id)
        if profile is None and record is None and not visits and not purchases:
            return None
        self.log_read(member_id, who, "export", "admin")
        if profile is not None:
            profile = {k: v for k, v in profile.items() if k != "photo"} | {"card_photo_held": bool(profile["photo"])}
        biometrics = None
        if record is not None:
            biometrics = {
                "boxes": [self.config.store.id],
                "vectors": record.vectors,
                "model": self.gallery().model,
                "enrolled_at": record.enrolled_at,
                "last_seen_at": record.last_seen_at,
                "consent": {
                    "reference": record.consent_reference,
                    "notice_version": record.notice_version,
                    "purpose": record.purpose,
                    "minor": record.minor,
                    "separate": record.separate,
                    "written_release": record.written_release,
                    "profile": record.profile,
                },
            }
        return {
            "member_id": member_id,
            "generated_at": iso(utc_now()),
            "store_id": self.config.store.id,
            "profile": profile,
            "biometrics": biometrics,
            "visits": sorted(visits),
            "purchases": purchases,
            "value": {
                k: v
                for k, v in self.books.commerce.member_value(member_id, self.config.store.currency).items()
                if k in ("segment", "value_scores", "recommendations")
            },
            "access_log": log,
        }

    def card(self, member_id: str) -> dict[str, Any]:
        """What an associate sees about a member (empty fields when only enrolled, without a profile)."""
        profile = self.books.commerce.member(member_id) or {
            "member_id": member_id,
            "name": member_id,
            "tier": "",
            "phone": None,
            "member_code": None,
            "sizes": {},
            "preferences": "",
            "notes": "",
            "photo_consent": False,
            "photo": None,
        }
        visits = self.books.events.visits(member_id)
        photo = f"/api/v1/members/{member_id}/photo" if profile["photo_consent"] and profile["photo"] else None
        return self.books.commerce.member_value(member_id, self.config.store.currency) | {
            "member_id": member_id,
            "name": profile["name"],
            "tier": profile["tier"],
            "sizes": profile["sizes"],
            "preferences": profile["preferences"],
            "notes": profile["notes"],
            "member_code": profile["member_code"],
            "photo_url": photo,
            "last_visit": visits[1] if len(visits) > 1 else None,
            "visits": len(visits),
        }

    def arrival_message(self, seq: int, event: dict[str, Any]) -> dict[str, Any]:
        """A live/replayed arrival: the event, the member card, who took it, and the visit's cooldown."""
        taken = self.books.events.taken([event["event_id"]]).get(event["event_id"])
        rejected = self.books.events.rejected([event["event_id"]]).get(event["event_id"])
        until = parse_iso(event["ts"]) + timedelta(minutes=self.config.edge.arrival_cooldown_minutes)
        return {
            "kind": "arrival",
            "seq": seq,
            "event": event,
            "card": self.card(event["member_id"]),
            "taken": {"by": taken[0], "at": taken[1]} if taken else None,
            "rejected": {"by": rejected.by, "at": rejected.at} if rejected else None,
            "cooldown_until": iso(until),
        }

    def todays_arrivals(self, since_seq: int = 0) -> list[StoredEvent]:
        """Arrivals of the store's day (from its local midnight) after ``since_seq``, oldest first.

        An iPad opened in the morning shows today's arrivals, not yesterday's; one that reconnects
        gets what it missed.
        """
        _, start, _ = store_day(self.config.store.timezone, utc_now())
        return self.books.events.since(since_seq, "vip_arrival", ts_from=iso(start))

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
        self.books.close()
