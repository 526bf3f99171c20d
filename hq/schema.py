"""Head office's tables (SQLAlchemy Core), in one place: rollups, the chain's member registry, boxes, the CRM outbox.

Each concern is a :class:`storelens.books.database.Part` with its own schema version, defined beside the code that
keeps it (``ROLLUPS`` in :mod:`storelens.hq.rollups`, ``CHAIN`` in :mod:`storelens.hq.registry`, ``CRM`` in
:mod:`storelens.hq.crm`); the events and tokens head office also keeps are the books' (:mod:`storelens.books.schema`).
A (store, camera) key is :func:`storelens.books.schema.camera_key`'s, as in every table that has one.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, MetaData, String, Table, Text, UniqueConstraint

from storelens.books.schema import camera_key

# rollups
rollup_tables = MetaData()
buckets = Table(
    "rollup_footfall",
    rollup_tables,
    *camera_key(),
    Column("bucket_start", String(24), primary_key=True, index=True, doc="UTC start of the 15-minute bucket"),
    Column("local_day", String(10), nullable=False, doc="the store's date of the bucket"),
    Column("hour_start", String(24), nullable=False, doc="UTC start of the store's local hour (twice 01:00 in autumn)"),
    Column("entries", BigInteger, nullable=False),
    Column("vip_arrivals", BigInteger, nullable=False),
    Column("staff_excluded", BigInteger, nullable=False),
    Column("untokened", BigInteger, nullable=False, doc="unique visitors counted without a token"),
    Column("unavailable", Integer, nullable=False, doc="events that could not count unique visitors"),
    Column("exits", BigInteger, nullable=False, server_default="0"),
    Column("passers_by", BigInteger, nullable=False, server_default="0", doc="seen outside the line, never crossed"),
)
tokens = Table(
    "rollup_visitor_tokens",
    rollup_tables,
    *camera_key(),
    Column("bucket_start", String(24), primary_key=True, index=True),
    Column("token", String(32), primary_key=True),
    Column("local_day", String(10), nullable=False),
    Column("hour_start", String(24), nullable=False),
)
days = Table(
    "rollup_footfall_day",
    rollup_tables,
    *camera_key(),
    Column("local_day", String(10), primary_key=True, index=True, doc="the store's date"),
    *(Column(c, BigInteger, nullable=False) for c in ("entries", "vip_arrivals", "staff_excluded", "untokened")),
    Column("unavailable", Integer, nullable=False),
    Column("exits", BigInteger, nullable=False, server_default="0"),
    Column("passers_by", BigInteger, nullable=False, server_default="0"),
)
day_tokens = Table(
    "rollup_visitor_tokens_day",
    rollup_tables,
    *camera_key(),
    Column("local_day", String(10), primary_key=True, index=True),
    Column("token", String(32), primary_key=True),
)
state = Table(
    "rollup_state",
    rollup_tables,
    Column("key", String(80), primary_key=True, doc="seq (the watermark), or zone:STORE"),
    Column("value", Text, nullable=False),
)

# registry
chain_tables = MetaData()
chain_members = Table(
    "chain_members",
    chain_tables,
    Column("member_id", String(128), primary_key=True),
    Column("member_ref", String(64), index=True, doc="member_hash: a box's erasure report names only this"),
    Column("version", Integer, nullable=False),
    Column("scope", String(8), nullable=False),
    Column("home_store", String(64)),
    Column("stores", Text, nullable=False, doc="JSON list: the listed stores (scope 'stores')"),
    Column("model", String(80), nullable=False),
    Column("vectors", Text, nullable=False, doc="JSON list of base64 float32 vectors"),
    Column("member", Text, nullable=False),
    Column("consent", Text, nullable=False),
    Column("updated_at", String(24), nullable=False),
)
deliveries = Table(
    "chain_deliveries",
    chain_tables,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("member_id", String(128), nullable=False, index=True),
    Column("store_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("op", String(8), nullable=False),
    Column("change_id", String(36), nullable=False, unique=True),
    Column(
        "state",
        String(10),
        nullable=False,
        index=True,
        doc="pending, confirmed, refused, purged (by the box's retention)",
    ),
    Column("attempts", Integer, nullable=False, default=0),
    Column("sent_at", String(24)),
    Column("confirmed_at", String(24)),
    Column("held_vectors", Integer),
    Column("detail", String(300), nullable=False, default=""),
    UniqueConstraint("member_id", "store_id"),
)
erasures = Table(
    "chain_erasures",
    chain_tables,
    Column("erasure_id", String(40), primary_key=True),
    Column("member_ref", String(64), nullable=False, index=True),
    Column("member_id", String(128), doc="kept only until every box has confirmed"),
    Column("version", Integer, nullable=False),
    Column("reason", String(200), nullable=False),
    Column("requested_at", String(24), nullable=False),
    Column("completed_at", String(24)),
)
erasure_boxes = Table(
    "chain_erasure_boxes",
    chain_tables,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("erasure_id", String(40), nullable=False, index=True),
    Column("store_id", String(64), nullable=False),
    Column("change_id", String(36), nullable=False, unique=True),
    Column("state", String(10), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("sent_at", String(24)),
    Column("confirmed_at", String(24)),
    Column("removed", Text, nullable=False, default="{}"),
    Column("receipt_id", String(36)),
)
box_keys = Table(
    "chain_box_keys",
    chain_tables,
    Column("store_id", String(64), primary_key=True),
    Column("public_key", String(44), nullable=False, doc="Ed25519, base64: the box's receipts verify against it"),
    Column("registered_at", String(24), nullable=False),
)
box_reports = Table(
    "chain_box_reports",
    chain_tables,
    Column("report_id", String(36), primary_key=True, doc="the box's report id: each is acted on once"),
    Column("store_id", String(64), nullable=False),
    Column("op", String(8), nullable=False),
    Column("outcome", String(300), nullable=False),
    Column("at", String(24), nullable=False),
)
boxes = Table(
    "chain_boxes",
    chain_tables,
    *camera_key(),
    Column("state", String(16), nullable=False),
    Column("ts", String(24), nullable=False),
    Column("fps", Float, nullable=False),
    Column("detail", String(300), nullable=False),
    Column("software", String(40), nullable=False),
    Column("received_at", String(24), nullable=False),
)

# crm
crm_tables = MetaData()
crm_outbox = Table(
    "crm_outbox",
    crm_tables,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False, doc="visit or erasure"),
    Column("key", String(40), nullable=False, unique=True, doc="the visit id or the erasure id: idempotency key"),
    Column("member_ref", String(64), nullable=False, index=True, doc="member_hash of the member"),
    Column("day", String(10), nullable=False, index=True, doc="the visit's UTC day (its export file)"),
    Column("body", Text, nullable=False),
    Column("state", String(10), nullable=False, index=True, doc="pending or delivered"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", String(24), nullable=False, index=True),
    Column("delivered_at", String(24)),
    Column("last_error", String(300), nullable=False, default=""),
)
crm_reexport = Table(
    "crm_reexport",
    crm_tables,
    Column("day", String(10), primary_key=True, doc="an export day to write again (an erased member's visit)"),
)
