"""Members' visits out to the chain's member platform (CRM/CDP): a signed webhook, retried until acknowledged.

Boxes send each member's closed visit (:class:`storelens.chain_messages.VisitRecord`, only for members whose consent
covers it). Head office keeps one row per visit id in ``crm_outbox`` (a redelivered visit changes nothing) and
:class:`CrmWebhook` POSTs each one, oldest first, until the platform answers 2xx: a failure or a timeout is
retried after 1, 2, 4 ... seconds (at most ``crm.max_backoff_seconds``), across restarts, since the outbox is the
database. The platform deduplicates by the ``X-StoreLens-Delivery`` header (the visit id): a delivery whose answer
was lost comes again with the same id. Several head-office workers share the outbox: each round's deliveries are
claimed (:meth:`CrmOutbox.claim`), so each is sent by one worker only; the console shows what waits and why.

Every request is signed: ``X-StoreLens-Signature: sha256=HEX``, the HMAC-SHA256 under the shared key of
``TIMESTAMP.BODY`` with ``X-StoreLens-Timestamp`` (Unix seconds), so that the platform can refuse a forged or
replayed one (the scheme Stripe's and GitHub's webhooks use; hmac from the standard library, urllib for HTTP).

An erasure reaches what was sent: when head office erases a member, their visits still waiting are dropped, and if
any was delivered an erasure notice (``X-StoreLens-Event: erasure``, the member id and the erasure id) goes out on
the same channel, retried the same way; once acknowledged it is deleted, and nothing of the member is left here.
The daily export (``crm.export_dir``) writes each UTC day's visits as JSON lines once the day is over; a day that
held an erased member's visit is written again without it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from storelens.atomic import replacing
from storelens.books.database import Part, open_part
from storelens.chain_messages import VisitRecord
from storelens.clock import iso, utc_now
from storelens.hq.schema import crm_outbox, crm_reexport, crm_tables
from storelens.members import member_hash
from storelens.workers import Periodic

log = logging.getLogger(__name__)
EXPORT_DAYS = 7  # recent days whose export file is written (again) when missing
ROUND = 50  # deliveries per round
LEASE_MARGIN_SECONDS = 30.0  # a claim lasts a post's timeout and this much more

CRM = Part("crm", crm_tables, version=1)


def erase_visits(conn: Any, member_id: str, erasure_id: str) -> int:
    """In the erasure's transaction: drop the member's visits; queue a notice when any had been delivered.

    Returns:
        How many visits had been delivered (0: the platform never heard of the member from here).
    """
    ref = member_hash(member_id)
    rows = conn.execute(
        select(crm_outbox.c.state, crm_outbox.c.day).where(crm_outbox.c.member_ref == ref, crm_outbox.c.kind == "visit")
    ).all()
    conn.execute(delete(crm_outbox).where(crm_outbox.c.member_ref == ref, crm_outbox.c.kind == "visit"))
    for day in {r.day for r in rows}:
        if conn.execute(select(crm_reexport.c.day).where(crm_reexport.c.day == day)).first() is None:
            conn.execute(crm_reexport.insert().values(day=day))
    delivered = sum(r.state == "delivered" for r in rows)
    if delivered:
        now = iso(utc_now())
        body = {"type": "erasure", "erasure_id": erasure_id, "member_id": member_id, "at": now}
        conn.execute(
            crm_outbox.insert().values(
                kind="erasure",
                key=erasure_id,
                member_ref=ref,
                day=now[:10],
                body=json.dumps(body),
                state="pending",
                attempts=0,
                next_at=now,
                last_error="",
            )
        )
    return delivered


class CrmOutbox:
    """The visits and erasure notices for the member platform, on head office's database.

    Args:
        engine: head office's database.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        open_part(engine, CRM)

    def add_visit(self, visit: VisitRecord, erased_at: str | None = None) -> bool:
        """Keep a visit for delivery, once per visit id.

        False when it was kept before, or the member was erased after it (``erased_at``: their latest erasure).
        """
        if erased_at is not None and visit.arrived_at <= erased_at:
            return False
        row = {
            "kind": "visit", "key": visit.visit_id, "member_ref": member_hash(visit.member_id),
            "day": visit.arrived_at[:10], "body": visit.model_dump_json(), "state": "pending", "attempts": 0,
            "next_at": iso(utc_now()), "last_error": "",
        }  # fmt: skip
        try:
            with self.engine.begin() as conn:
                if conn.execute(select(crm_outbox.c.id).where(crm_outbox.c.key == visit.visit_id)).first():
                    return False
                conn.execute(crm_outbox.insert().values(**row))
        except IntegrityError:  # another worker kept it first
            return False
        return True

    def claim(self, lease_seconds: float, limit: int = ROUND) -> list[dict[str, Any]]:
        """Take the deliveries whose time has come, oldest first, for ``lease_seconds``: one sender per delivery.

        The claim moves each row's ``next_at`` past the lease in one conditional UPDATE, so of several head-office
        workers only one takes a row (PostgreSQL re-checks the condition on the row it waited for; SQLite writes
        one at a time). A worker that dies holding a claim leaves the row to be taken again once the lease ends.
        """
        now = utc_now()
        due = (
            select(crm_outbox.c.id)
            .where(crm_outbox.c.state == "pending", crm_outbox.c.next_at <= iso(now))
            .order_by(crm_outbox.c.id)
            .limit(limit)
        )
        take = (
            update(crm_outbox)
            .where(crm_outbox.c.state == "pending", crm_outbox.c.next_at <= iso(now))
            .values(next_at=iso(now + timedelta(seconds=lease_seconds)))
            .returning(crm_outbox.c.id, crm_outbox.c.kind, crm_outbox.c.key, crm_outbox.c.body, crm_outbox.c.attempts)
        )
        with self.engine.begin() as conn:
            ids = [r[0] for r in conn.execute(due)]
            if not ids:
                return []
            taken = [dict(r) for r in conn.execute(take.where(crm_outbox.c.id.in_(ids))).mappings()]
        return sorted(taken, key=lambda r: int(r["id"]))

    def state(self) -> dict[str, Any]:
        """What the chain console shows of the deliveries.

        Returns:
            ``pending`` (waiting), ``retrying`` (waiting after a failure), ``delivered`` (kept), and the most tried
            waiting delivery's ``attempts`` and ``last_error``.
        """
        waiting = (crm_outbox.c.state == "pending",)
        with self.engine.connect() as conn:
            pending = int(conn.execute(select(func.count()).select_from(crm_outbox).where(*waiting)).scalar_one())
            retried = int(
                conn.execute(
                    select(func.count()).select_from(crm_outbox).where(*waiting, crm_outbox.c.attempts > 0)
                ).scalar_one()
            )
            most_tried = conn.execute(
                select(crm_outbox.c.id, crm_outbox.c.day, crm_outbox.c.attempts, crm_outbox.c.last_error)
                .where(*waiting)
                .order_by(crm_outbox.c.attempts.desc(), crm_outbox.c.id)
                .limit(1)
            ).first()
            delivered = int(
                conn.execute(
                    select(func.count()).select_from(crm_outbox).where(crm_outbox.c.state == "delivered")
                ).scalar_one()
            )
        return {
            "pending": pending,
            "retrying": retried,
            "delivered": delivered,
            "attempts": int(most_tried.attempts) if most_tried is not None else 0,
            "last_error": str(most_tried.last_error) if most_tried is not None else "",
        }

    def delivered(self, row_id: int, kind: str) -> None:
        """The platform acknowledged it: a visit is kept (an erasure may follow it), a notice is deleted."""
        with self.engine.begin() as conn:
            if kind == "erasure":
                conn.execute(delete(crm_outbox).where(crm_outbox.c.id == row_id))
            else:
                conn.execute(
                    update(crm_outbox)
                    .where(crm_outbox.c.id == row_id)
                    .values(state="delivered", delivered_at=iso(utc_now()), last_error="")
                )

    def failed(self, row_id: int, attempts: int, error: str, backoff: float) -> None:
        """Not acknowledged: tried again after ``2**attempts`` seconds, at most ``backoff``."""
        wait = min(backoff, 2.0 ** min(attempts, 30))
        with self.engine.begin() as conn:
            conn.execute(
                update(crm_outbox)
                .where(crm_outbox.c.id == row_id)
                .values(attempts=attempts + 1, next_at=iso(utc_now() + timedelta(seconds=wait)), last_error=error[:300])
            )

    def visits_of(self, day: str) -> list[str]:
        """The JSON of every visit kept for a UTC day (delivered or not), in order of arrival here."""
        query = (
            select(crm_outbox.c.body)
            .where(crm_outbox.c.kind == "visit", crm_outbox.c.day == day)
            .order_by(crm_outbox.c.id)
        )
        with self.engine.connect() as conn:
            return [str(r[0]) for r in conn.execute(query)]

    def take_reexports(self) -> list[str]:
        """The days to write again (an erased member's visits were in them); forgotten once taken."""
        with self.engine.begin() as conn:
            days = [str(r[0]) for r in conn.execute(select(crm_reexport.c.day))]
            conn.execute(delete(crm_reexport))
        return days

    def purge(self, before_day: str) -> int:
        """Delete delivered visits of days before ``before_day`` (the event history's retention)."""
        with self.engine.begin() as conn:
            done = conn.execute(
                delete(crm_outbox).where(
                    crm_outbox.c.kind == "visit", crm_outbox.c.state == "delivered", crm_outbox.c.day < before_day
                )
            )
        return int(done.rowcount or 0)

    def pending(self) -> int:
        """Deliveries not acknowledged yet."""
        with self.engine.connect() as conn:
            query = select(func.count()).select_from(crm_outbox).where(crm_outbox.c.state == "pending")
            return int(conn.execute(query).scalar_one())


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=HEX``: HMAC-SHA256 of ``TIMESTAMP.BODY`` (what the platform checks)."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def write_export(directory: Path, day: str, lines: list[str]) -> Path:
    """``visits-DAY.jsonl``, whole or not at all."""
    target = directory / f"visits-{day}.jsonl"
    with replacing(target) as tmp:
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return target


class CrmWebhook(Periodic):
    """Delivers what is due, every second; writes the daily export files; purges delivered visits past retention.

    Args:
        outbox: the visits and notices.
        url: the platform's webhook (None: export only).
        secret: the HMAC key.
        timeout: one delivery's answer, at most (seconds).
        backoff: the longest wait between two tries.
        export_dir: where the daily files go (None: none).
        retention_days: how long a delivered visit is kept.
    """

    def __init__(
        self,
        outbox: CrmOutbox,
        url: str | None,
        secret: bytes,
        timeout: float,
        backoff: float,
        export_dir: Path | None,
        retention_days: int,
    ) -> None:
        super().__init__("crm-webhook", 1.0, retry_on=(SQLAlchemyError, OSError))
        self.outbox, self.url, self.secret, self.timeout, self.backoff = outbox, url, secret, timeout, backoff
        self.export_dir, self.retention_days = export_dir, retention_days
        self.delivered = 0
        self._next_housekeeping = 0.0

    def tick(self) -> None:
        """Deliver what is due; hourly, the export files and the purge."""
        if self.url is not None:
            while self.deliver() == ROUND and not self.stopping():
                pass
        if self.export_dir is not None:
            self.export(utc_now())
        if time.monotonic() >= self._next_housekeeping:
            self._next_housekeeping = time.monotonic() + 3600
            before = (utc_now() - timedelta(days=self.retention_days)).strftime("%Y-%m-%d")
            self.outbox.purge(before)

    def deliver(self) -> int:
        """One round of up to ``ROUND`` deliveries, oldest first; how many (0: a failure stopped the round).

        Each delivery is claimed just before it is posted, for its timeout and a margin, so that no other head-office
        worker sends it meanwhile; one that dies holding a claim leaves it to another once the claim ends.
        """
        done = 0
        while done < ROUND and not self.stopping():
            claimed = self.outbox.claim(self.timeout + LEASE_MARGIN_SECONDS, limit=1)
            if not claimed:
                break
            row = claimed[0]
            error = self._post(row["kind"], row["key"], row["body"].encode())
            if error is not None:
                self.outbox.failed(row["id"], row["attempts"], error, self.backoff)
                log.warning("the member platform did not take %s %s (try %d): %s", row["kind"], row["key"],
                            row["attempts"] + 1, error)  # fmt: skip
                return 0
            self.outbox.delivered(row["id"], row["kind"])
            self.delivered += 1
            done += 1
        return done

    def _post(self, kind: str, key: str, body: bytes) -> str | None:
        """POST one delivery; None when acknowledged (2xx), else why not."""
        if self.url is None:
            return "no webhook"
        timestamp = str(int(time.time()))
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "StoreLens-HQ",
                "X-StoreLens-Event": kind,
                "X-StoreLens-Delivery": key,
                "X-StoreLens-Timestamp": timestamp,
                "X-StoreLens-Signature": signature(self.secret, timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                status = int(answer.status)
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:  # refused, unreachable, timed out
            reason = getattr(exc, "reason", exc)
            return f"{reason.__class__.__name__}: {str(reason)[:200]}"
        return None if 200 <= status < 300 else f"HTTP {status}"

    def export(self, now: datetime) -> list[Path]:
        """Write the files of recent finished days that are missing, and again those an erasure touched."""
        if self.export_dir is None:
            return []
        again = set(self.outbox.take_reexports())
        written = []
        today = now.astimezone(UTC).date()
        for back in range(1, EXPORT_DAYS + 1):
            day = (today - timedelta(days=back)).isoformat()
            if day in again or not (self.export_dir / f"visits-{day}.jsonl").exists():
                written.append(write_export(self.export_dir, day, self.outbox.visits_of(day)))
        for day in again:  # older than the recent days: rewritten only where a file exists
            path = self.export_dir / f"visits-{day}.jsonl"
            if path.exists() and path not in written:
                written.append(write_export(self.export_dir, day, self.outbox.visits_of(day)))
        return written
