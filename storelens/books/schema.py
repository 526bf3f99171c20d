"""The databases' tables (SQLAlchemy Core), in one place, one ``MetaData`` per concern.

Each concern is a :class:`storelens.books.database.Part` with its own schema version: events (with their
acknowledgements and the quarantine), commerce (members' profiles, the catalogue, transactions, member
insights), the access log, and device tokens. A store box has all four in one database; head office
creates only the events and tokens (and its own chain tables, ``storelens.hq.registry``).

Money is stored in minor units (cents) as integers, never as floats. Times are ISO 8601 UTC strings with
milliseconds, as in the events, so that ranges compare as text on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, MetaData, String, Table, Text


def camera_key() -> tuple[Column[str], Column[str]]:
    """A table's (store, camera) primary key, as every table keyed by camera has it (ids bounded as in the events)."""
    return Column("store_id", String(64), primary_key=True), Column("camera_id", String(64), primary_key=True)


event_tables = MetaData()
commerce_tables = MetaData()
access_tables = MetaData()
token_tables = MetaData()
meta_tables = MetaData()
events = Table(
    "events",
    event_tables,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("type", String(20), nullable=False, index=True),
    Column("store_id", String(64), nullable=False),
    Column("camera_id", String(64), nullable=False),
    Column("ts", String(32), nullable=False, index=True),  # event time; interval start for footfall
    Column("member_id", String(128), nullable=True, index=True),  # arrivals: erasure deletes them
    Column("payload", Text, nullable=False),
    Column("received_at", String(32), nullable=False),
)
members = Table(
    "members",
    commerce_tables,
    Column("member_id", String(128), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("tier", String(40), nullable=False, default=""),
    Column("phone", String(40), nullable=True, index=True),
    Column("member_code", String(64), nullable=True, index=True),
    Column("sizes", Text, nullable=False, default="{}"),
    Column("preferences", Text, nullable=False, default=""),
    Column("notes", Text, nullable=False, default=""),
    Column("photo_consent", Integer, nullable=False, default=0),
    Column("photo", Text, nullable=True),  # path of the card photo, only with photo consent
    Column("updated_at", String(32), nullable=False),
    Column("home_store", String(64), nullable=True),  # commerce schema 1 (one-store schema 5): from the CRM
    Column("crm_hash", String(64), nullable=True),  # the CRM fields' hash (a re-import changes nothing)
)
acks = Table(
    "acks",
    event_tables,
    Column("event_id", String(64), primary_key=True),
    Column("taken_by", String(128), nullable=False),
    Column("at", String(32), nullable=False),
)
tokens = Table(
    "tokens",
    token_tables,
    Column("token_hash", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", String(32), nullable=False),
)
verdicts = Table(  # the associates' word on an announcement: confirmed (taken) or rejected ("Not this person")
    "verdicts",
    event_tables,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=True, unique=True),  # NULL once the member is erased: no link left
    Column("camera_id", String(64), nullable=False),
    Column("similarity", Float, nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("by", String(128), nullable=False),
    Column("at", String(32), nullable=False, index=True),
)
quarantine = Table(  # rows an older StoreLens stored that are not valid events: kept aside, never read as events
    "events_quarantine",
    event_tables,
    Column("seq", Integer, primary_key=True),
    Column("payload", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("moved_at", String(32), nullable=False),
)
access_log = Table(  # every read of a member's data: who, what, when, why (kept api.access_log_days)
    "access_log",
    access_tables,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(32), nullable=False, index=True),
    Column("member_ref", String(128), nullable=False, index=True),  # the member id, or the erasure receipt id
    Column("who", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("what", String(16), nullable=False),
    Column("why", String(16), nullable=False),
)
products = Table(  # the catalogue
    "products",
    commerce_tables,
    Column("sku", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("category", String(64), nullable=False, index=True),
    Column("sizes", Text, nullable=False, default="[]"),  # JSON list of the sizes in stock ([] : one size)
    Column("in_stock", Integer, nullable=False, default=1),
    Column("is_new", Integer, nullable=False, default=0),
    Column("price_minor", BigInteger, nullable=True),
    Column("row_hash", String(64), nullable=False),
    Column("updated_at", String(32), nullable=False),
)
transactions = Table(  # POS receipts: immutable once imported (a re-import of the same id changes nothing)
    "transactions",
    commerce_tables,
    Column("txn_id", String(64), primary_key=True),
    Column("store_id", String(64), nullable=False),
    Column("ts", String(32), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("member_id", String(128), nullable=True),  # erasure sets it to NULL: the sale stays, unlinked
    Column("import_id", String(40), nullable=False),
    Index("ix_transactions_store_ts", "store_id", "ts"),
    Index("ix_transactions_member_ts", "member_id", "ts"),
)
transaction_lines = Table(
    "transaction_lines",
    commerce_tables,
    Column("txn_id", String(64), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("sku", String(64), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("category", String(64), nullable=False),
    Column("size", String(20), nullable=True),
    Column("quantity", Integer, nullable=False),
    Column("price_minor", BigInteger, nullable=False),
)
member_insights = Table(  # recomputed in the background (api/insights.py), read by the card in one lookup
    "member_insights",
    commerce_tables,
    Column("member_id", String(128), primary_key=True),
    Column("recency_days", Integer, nullable=True),
    Column("frequency", Integer, nullable=False),
    Column("monetary_minor", BigInteger, nullable=False),
    Column("r", Integer, nullable=False),
    Column("f", Integer, nullable=False),
    Column("m", Integer, nullable=False),
    Column("segment", String(32), nullable=False),
    Column("recommendations", Text, nullable=False),  # JSON: [{sku, name, category, reason}]
    Column("computed_at", String(32), nullable=False),
)
meta = Table("meta", meta_tables, Column("key", String(64), primary_key=True), Column("value", Text, nullable=False))
