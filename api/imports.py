"""CRM members, the product catalogue and POS transactions in: CSV or JSON lines, streamed, all or nothing.

Each record is validated by its pydantic model (the same bounds as everywhere, ``storelens.bounds``): text holds
no control or bidirectional-override character; a receipt's amount is the sum of its lines (to the cent), its time
between 2000 and the time of import (plus ``FUTURE_TOLERANCE``), and every row of one receipt agrees on its store,
time, amount, currency and member; ids are unique in the whole file; a JSON line is bounded in length and nesting
before the parser sees it. A bad record is reported by its row (CSV: the spreadsheet's row number, the header
being row 1; JSON lines: the line number) and field. The whole file is imported in one database transaction: with
any rejected record nothing is kept. Records are read and written in batches, so a file of a million rows imports
in bounded memory (the ids of a members or products file are held while it imports, to find repeats: about 100
bytes each). A re-import changes nothing: members and products are keyed by id and updated only when their content
differs; a transaction, once imported, is never changed: a file that says otherwise of one (another amount, store,
time, currency or member, or other lines) is refused, naming the row.

CSV layouts (header row required; unknown columns are refused):

- members: ``member_id, name, tier, phone, member_code, sizes, preferences, home_store``; ``sizes`` as
  ``tops=M;shoes=42``.
- products: ``sku, name, category, sizes, in_stock, new, price``; ``sizes`` as ``S;M;L``.
- transactions: one row per line, ``transaction_id, store_id, time, amount, currency, member_id, sku,
  name, category, size, quantity, price``; the lines of a transaction on consecutive rows.

JSON lines: one object per line with the same fields; a transaction carries its ``lines`` as a list.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import IO, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import bindparam, insert, select

from storelens.books.schema import members, products, transaction_lines, transactions
from storelens.bounds import EARLIEST_YEAR, LATEST_YEAR, Ident, MemberId, check_prose, check_text
from storelens.clock import iso, utc_now
from storelens.errors import ImportRefused, first_error

Kind = Literal["members", "products", "transactions"]
BATCH = 2000  # records per database round trip
MAX_REPORTED = 50  # rejects listed in a report (all are counted)
MAX_LINE_CHARS = 1_000_000  # one CSV field or JSON line: a hostile file cannot make one huge string
MAX_DEPTH = 8  # nesting of a JSON line (a receipt is 3 deep): checked before the parser recurses
FUTURE_TOLERANCE = timedelta(minutes=10)  # a till's clock ahead of this box's
PROSE_FIELDS = frozenset({"preferences"})  # free text of several lines; every other text is one line
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")
TXN_FIELDS = ("store_id", "time", "amount", "currency", "member_id")  # what every row of one receipt repeats

Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")]
Category = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9 _&-]{0,63}$")]
Size = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ./+-]{0,19}$")]
Money = Annotated[Decimal, Field(ge=Decimal("-10000000"), le=Decimal("10000000"), max_digits=12, decimal_places=2)]


def _category(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _check_texts(value: Any, check: Any) -> None:
    if isinstance(value, str):
        check(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_texts(k, check)
            _check_texts(v, check)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_texts(item, check)


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _readable(cls, value: Any, info: ValidationInfo) -> Any:
        """Every text a person will read: no control or bidirectional-override character."""
        _check_texts(value, check_prose if info.field_name in PROSE_FIELDS else check_text)
        return value


class CrmMember(_Row):
    """A member as the CRM exports them."""

    member_id: MemberId
    name: str = Field(min_length=1, max_length=200)
    tier: str = Field(default="", max_length=40)
    phone: str | None = Field(default=None, max_length=40, pattern=r"^\+?[0-9][0-9 ()./-]{2,39}$")
    member_code: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    sizes: dict[Annotated[Category, BeforeValidator(_category)], Size] = Field(
        default_factory=dict, max_length=20, description='By category, e.g. {"tops": "M", "shoes": "42"}'
    )
    preferences: str = Field(default="", max_length=2000)
    home_store: Ident | None = None


class Product(_Row):
    """A catalogue entry."""

    sku: Sku
    name: str = Field(min_length=1, max_length=200)
    category: Annotated[Category, BeforeValidator(_category)]
    sizes: list[Size] = Field(default_factory=list, max_length=50, description="Sizes in stock ([]: one size)")
    in_stock: bool = True
    new: bool = False
    price: Money | None = Field(default=None, ge=0)


class Line(_Row):
    """One line of a receipt."""

    sku: Sku
    name: str = Field(default="", max_length=200)
    category: Annotated[Category, BeforeValidator(_category)]
    size: Size | None = None
    quantity: int = Field(ge=1, le=10_000)
    price: Money = Field(ge=0, description="Unit price")


class Transaction(_Row):
    """A POS receipt."""

    transaction_id: Sku
    store_id: Ident
    time: datetime = Field(description="ISO 8601 with a time zone offset, e.g. 2026-11-21T10:15:00+01:00")
    amount: Money
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. EUR")
    member_id: MemberId | None = None
    lines: list[Line] = Field(min_length=1, max_length=500)

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime, info: ValidationInfo) -> datetime:
        if value.tzinfo is None:
            raise ValueError("a time zone offset is required, e.g. 2026-11-21T10:15:00+01:00")
        if not EARLIEST_YEAR <= value.year < LATEST_YEAR:
            raise ValueError(f"a time between {EARLIEST_YEAR} and {LATEST_YEAR} is expected")
        now = info.context.get("now") if isinstance(info.context, dict) else None
        latest = (now or datetime.now(UTC)) + FUTURE_TOLERANCE
        if value > latest:
            raise ValueError(f"{value.isoformat()} is after the time of import ({latest.isoformat()} at the latest)")
        return value.astimezone(UTC)

    @field_validator("lines")
    @classmethod
    def _adds_up(cls, lines: list[Line], info: ValidationInfo) -> list[Line]:
        """The amount is what the lines add up to, to the cent."""
        amount = info.data.get("amount")
        total = sum(minor(ln.price) * ln.quantity for ln in lines)
        if amount is not None and abs(minor(amount) - total) > 1:
            raise ValueError(f"the lines add up to {Decimal(total) / 100:.2f}, the amount says {amount}")
        return lines


MODELS: dict[Kind, type[_Row]] = {"members": CrmMember, "products": Product, "transactions": Transaction}
CSV_COLUMNS: dict[Kind, tuple[str, ...]] = {
    "members": ("member_id", "name", "tier", "phone", "member_code", "sizes", "preferences", "home_store"),
    "products": ("sku", "name", "category", "sizes", "in_stock", "new", "price"),
    "transactions": (
        "transaction_id",
        "store_id",
        "time",
        "amount",
        "currency",
        "member_id",
        "sku",
        "name",
        "category",
        "size",
        "quantity",
        "price",
    ),
}
LINE_COLUMNS = ("sku", "name", "category", "size", "quantity", "price")


def minor(amount: Decimal) -> int:
    """Money in minor units (cents), exactly."""
    return int((amount * 100).to_integral_value(rounding=ROUND_HALF_EVEN))


@dataclass
class ImportReport:
    """What an import did, or why it did nothing."""

    kind: str
    source: str
    records: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects: list[str] = field(default_factory=list)
    imported: bool = False

    def reject(self, message: str) -> None:
        """Count a rejected record, keeping the first messages."""
        self.rejected += 1
        if len(self.rejects) < MAX_REPORTED:
            self.rejects.append(message)

    def summary(self) -> str:
        """One line for a person."""
        if not self.imported:
            return (
                f"{self.source}: nothing imported: {self.rejected} of {self.records} record(s) rejected "
                f"(first: {self.rejects[0] if self.rejects else '?'})"
            )
        return (
            f"{self.source}: {self.records} {self.kind} record(s): {self.added} added, {self.changed} changed, "
            f"{self.unchanged} unchanged"
        )


# --- reading -----------------------------------------------------------------------------------


def _split(text: str, sep: str) -> list[str]:
    return [part.strip() for part in text.split(sep) if part.strip()]


def _csv_record(kind: Kind, row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as the model's fields: empty cells are absent, lists and maps from their short forms."""
    out: dict[str, Any] = {k: v for k, v in row.items() if v is not None and v.strip() != ""}
    if kind == "members" and "sizes" in out:
        pairs = [p.split("=", 1) for p in _split(out["sizes"], ";")]
        if any(len(p) != 2 for p in pairs):
            raise ValueError("sizes: expected category=size pairs separated by ';', e.g. tops=M;shoes=42")
        out["sizes"] = {k.strip(): v.strip() for k, v in pairs}
    if kind == "products" and "sizes" in out:
        out["sizes"] = _split(out["sizes"], ";")
    return out


def read_records(kind: Kind, stream: IO[str], fmt: Literal["csv", "jsonl"]) -> Iterator[tuple[int, Any]]:
    """(row number, record dict) per record; a record that cannot even be read is (row, ValueError).

    Raises:
        ImportRefused: the file as a whole is unusable (no header, unknown columns).
    """
    if fmt == "jsonl":
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            if len(line) > MAX_LINE_CHARS:
                yield number, ValueError(f"line longer than {MAX_LINE_CHARS} characters")
                continue
            if nesting(line) > MAX_DEPTH:
                yield number, ValueError(f"nested deeper than {MAX_DEPTH} levels")
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, ValueError(f"not JSON: {exc.msg}")
                continue
            yield number, value if isinstance(value, dict) else ValueError("a JSON object is expected")
        return
    csv.field_size_limit(MAX_LINE_CHARS)
    reader = csv.DictReader(stream)
    header = reader.fieldnames
    if not header:
        raise ImportRefused("the file is empty: a header row is expected")
    unknown = [c for c in header if c not in CSV_COLUMNS[kind]]
    if unknown:
        raise ImportRefused(f"unknown column(s) {', '.join(map(repr, unknown))}; known: {', '.join(CSV_COLUMNS[kind])}")
    records = _csv_rows(kind, reader)
    yield from (_group_lines(records) if kind == "transactions" else records)


def nesting(line: str) -> int:
    """How deep the brackets of a JSON line nest (outside strings), without parsing it.

    Written here because :func:`json.loads` recurses once per level and raises ``RecursionError`` past
    about a thousand: a line's depth is bounded before the parser sees it.
    """
    if line.count("[") + line.count("{") <= MAX_DEPTH:
        return line.count("[") + line.count("{")  # cannot be deeper than its brackets
    depth = deepest = 0
    for bracket in _BRACKET.finditer(_STRING.sub('""', line)):
        depth += 1 if bracket.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _csv_rows(kind: Kind, reader: csv.DictReader[str]) -> Iterator[tuple[int, Any]]:
    for row in reader:
        number = reader.line_num
        if None in row:
            yield number, ValueError(f"more cells than the {len(reader.fieldnames or [])} columns of the header")
            continue
        try:
            yield number, _csv_record(kind, row)
        except ValueError as exc:
            yield number, exc


def _group_lines(rows: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    """Consecutive CSV rows of one transaction as one record with its ``lines`` (first row's number).

    A row that disagrees with its transaction's first row (store, time, amount, currency, member) is a reject of
    its own, reported after the transaction.
    """
    current: dict[str, Any] | None = None
    first = 0
    disagreeing: list[tuple[int, ValueError]] = []
    for number, row in rows:
        if isinstance(row, ValueError):
            yield number, row
            continue
        line = {k: row.pop(k) for k in LINE_COLUMNS if k in row}
        if current is not None and row.get("transaction_id") == current.get("transaction_id"):
            differs = next((k for k in TXN_FIELDS if row.get(k) != current.get(k)), None)
            current["lines"].append(line)  # kept, so that the receipt's total is not a second complaint
            if differs is not None:
                disagreeing.append((number, ValueError(
                    f"field {differs}: {row.get(differs)!r} where row {first} of transaction "
                    f"{current.get('transaction_id')!r} says {current.get(differs)!r} (a receipt's rows agree)"
                )))  # fmt: skip
            continue
        if current is not None:
            yield first, current
            yield from disagreeing
            disagreeing = []
        current, first = {**row, "lines": [line]}, number
    if current is not None:
        yield first, current
        yield from disagreeing


# --- writing -----------------------------------------------------------------------------------


def _digest(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def _member_row(m: CrmMember) -> dict[str, Any]:
    phone = "".join(ch for ch in m.phone if ch.isdigit() or ch == "+") if m.phone else None
    values = {
        "name": m.name,
        "tier": m.tier,
        "phone": phone,
        "member_code": m.member_code,
        "sizes": json.dumps(m.sizes, sort_keys=True),
        "preferences": m.preferences,
        "home_store": m.home_store,
    }
    return {"member_id": m.member_id, **values, "crm_hash": _digest(values)}


def _product_row(p: Product) -> dict[str, Any]:
    values = {
        "name": p.name,
        "category": p.category,
        "sizes": json.dumps(p.sizes),
        "in_stock": int(p.in_stock),
        "is_new": int(p.new),
        "price_minor": minor(p.price) if p.price is not None else None,
    }
    return {"sku": p.sku, **values, "row_hash": _digest(values)}


class Importer:
    """Imports one file into the books' database, in one transaction.

    Args:
        engine: the books' SQLAlchemy engine.
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def run(self, kind: Kind, records: Iterator[tuple[int, Any]], source: str) -> ImportReport:
        """Validate and store every record of ``records``; with any reject, store nothing.

        Raises:
            ImportRefused: the file as a whole is unusable (from the reader).
        """
        report = ImportReport(kind, source)
        model = MODELS[kind]
        import_id = uuid.uuid4().hex
        started = utc_now()
        now = iso(started)
        seen: dict[str, int] = {}  # members' and products' ids in this file -> their row (transactions: import_id)
        with self.engine.connect() as conn:
            tx = conn.begin()
            try:
                batch: list[tuple[int, _Row]] = []
                for number, record in records:
                    report.records += 1
                    parsed = self._parse(model, number, record, report, started)
                    if parsed is None:
                        continue
                    self._once(kind, number, parsed, seen, report)
                    if report.rejected:
                        continue  # after a reject: go on validating (to report every bad row), store nothing
                    batch.append((number, parsed))
                    if len(batch) >= BATCH:
                        self._write(conn, kind, batch, report, import_id, now)
                        batch = []
                if batch and not report.rejected:
                    self._write(conn, kind, batch, report, import_id, now)
                if report.rejected or not report.records:
                    if not report.records:
                        report.reject("the file holds no record")
                    tx.rollback()
                    return report
                tx.commit()
            except BaseException:
                tx.rollback()
                raise
        report.imported = True
        return report

    @staticmethod
    def _once(kind: Kind, number: int, parsed: Any, seen: dict[str, int], report: ImportReport) -> None:
        """A member or product id given twice anywhere in the file is refused (which row would win?)."""
        if kind == "transactions":
            return  # their repeats are found in the database, by import_id
        key = "member_id" if kind == "members" else "sku"
        value = getattr(parsed, key)
        if value in seen:
            report.reject(
                f"row {number}, field {key}: {value!r} appears twice in the file (first on row {seen[value]})"
            )
        else:
            seen[value] = number

    @staticmethod
    def _parse(model: type[_Row], number: int, record: Any, report: ImportReport, now: datetime) -> _Row | None:
        if isinstance(record, ValueError):
            report.reject(f"row {number}: {record}")
            return None
        try:
            return model.model_validate(record, context={"now": now})
        except ValidationError as exc:
            where, why = first_error(exc, whole="record")
            report.reject(f"row {number}, field {where}: {why.removeprefix('Value error, ')}")
            return None

    def _write(
        self, conn: Any, kind: Kind, batch: list[tuple[int, Any]], report: ImportReport, import_id: str, now: str
    ) -> None:
        if kind == "transactions":
            self._write_transactions(conn, batch, report, import_id)
            return
        table, key, hash_col, to_row = (
            (members, "member_id", "crm_hash", _member_row)
            if kind == "members"
            else (products, "sku", "row_hash", _product_row)
        )
        rows: dict[str, dict[str, Any]] = {}
        for _, parsed in batch:
            row = to_row(parsed)
            rows[row[key]] = row  # unique: Importer._once refused a repeat anywhere in the file
        existing = dict(conn.execute(select(table.c[key], table.c[hash_col]).where(table.c[key].in_(rows))).all())
        new = [r | {"updated_at": now} for k, r in rows.items() if k not in existing]
        changed = [r | {"updated_at": now} for k, r in rows.items() if k in existing and existing[k] != r[hash_col]]
        if new:
            conn.execute(insert(table), new)
        if changed:
            columns = [c for c in changed[0] if c != key]
            stmt = table.update().where(table.c[key] == bindparam("_key")).values({c: bindparam(c) for c in columns})
            conn.execute(stmt, [{"_key": r[key], **{c: r[c] for c in columns}} for r in changed])
        report.added += len(new)
        report.changed += len(changed)
        report.unchanged += len(rows) - len(new) - len(changed)

    @staticmethod
    def _write_transactions(conn: Any, batch: list[tuple[int, Any]], report: ImportReport, import_id: str) -> None:
        seen: dict[str, int] = {}
        for number, t in batch:
            if t.transaction_id in seen:
                report.reject(f"row {number}, field transaction_id: {t.transaction_id!r} appears twice in the file")
                return
            seen[t.transaction_id] = number
        stored = {
            r.txn_id: r
            for r in conn.execute(
                select(
                    transactions.c.txn_id,
                    transactions.c.import_id,
                    transactions.c.store_id,
                    transactions.c.ts,
                    transactions.c.amount_minor,
                    transactions.c.currency,
                    transactions.c.member_id,
                ).where(transactions.c.txn_id.in_(seen))
            )
        }
        existing = {txn_id: r.import_id for txn_id, r in stored.items()}
        for txn_id, their_import in existing.items():
            if their_import == import_id:  # an earlier batch of this file: the lines were not together
                report.reject(
                    f"row {seen[txn_id]}, field transaction_id: {txn_id!r} appears twice in the file (a "
                    "transaction's lines must be on consecutive rows)"
                )
                return
        if stored and _conflicts(conn, [(n, t) for n, t in batch if t.transaction_id in stored], stored, report):
            return
        fresh = [t for _, t in batch if t.transaction_id not in existing]
        if fresh:
            conn.execute(
                insert(transactions),
                [
                    {
                        "txn_id": t.transaction_id,
                        "store_id": t.store_id,
                        "ts": iso(t.time),
                        "amount_minor": minor(t.amount),
                        "currency": t.currency,
                        "member_id": t.member_id,
                        "import_id": import_id,
                    }
                    for t in fresh
                ],
            )
            conn.execute(
                insert(transaction_lines),
                [
                    {
                        "txn_id": t.transaction_id,
                        "line_no": i,
                        "sku": ln.sku,
                        "name": ln.name,
                        "category": ln.category,
                        "size": ln.size,
                        "quantity": ln.quantity,
                        "price_minor": minor(ln.price),
                    }
                    for t in fresh
                    for i, ln in enumerate(t.lines, start=1)
                ],
            )
        report.added += len(fresh)
        report.unchanged += len(batch) - len(fresh)


def _conflicts(conn: Any, again: list[tuple[int, Any]], stored: dict[str, Any], report: ImportReport) -> bool:
    """Receipts imported before that this file describes otherwise: each a reject naming its row and field."""
    ids = [t.transaction_id for _, t in again]
    lines: dict[str, list[tuple[str, int, int]]] = {}
    for r in conn.execute(
        select(
            transaction_lines.c.txn_id,
            transaction_lines.c.sku,
            transaction_lines.c.quantity,
            transaction_lines.c.price_minor,
        )
        .where(transaction_lines.c.txn_id.in_(ids))
        .order_by(transaction_lines.c.txn_id, transaction_lines.c.line_no)
    ):
        lines.setdefault(r.txn_id, []).append((r.sku, int(r.quantity), int(r.price_minor)))
    found = False
    for number, t in again:
        held = stored[t.transaction_id]
        mine = {"store_id": t.store_id, "time": iso(t.time), "amount": f"{minor(t.amount) / 100:.2f}",
                "currency": t.currency}  # fmt: skip
        theirs = {"store_id": held.store_id, "time": held.ts, "amount": f"{int(held.amount_minor) / 100:.2f}",
                  "currency": held.currency}  # fmt: skip
        if held.member_id is not None:  # an erased member's receipts stay unlinked: not a difference
            mine["member_id"], theirs["member_id"] = t.member_id, held.member_id
        ours = [(ln.sku, ln.quantity, minor(ln.price)) for ln in t.lines]
        if ours != lines.get(t.transaction_id, ours):
            held_lines = lines[t.transaction_id]
            mine["lines"] = f"{len(ours)} other line(s)"
            theirs["lines"] = f"{len(held_lines)} line(s)"
        differs = next((k for k in mine if mine[k] != theirs[k]), None)
        if differs is not None:
            found = True
            report.reject(
                f"row {number}, field {differs}: transaction {t.transaction_id!r} was imported before with "
                f"{differs} {theirs[differs]!r}, this file says {mine[differs]!r} (a receipt, once imported, "
                "is never changed: correct it with a new receipt)"
            )
    return found


def file_format(name: str) -> Literal["csv", "jsonl"]:
    """The format a file name says (``.csv``, ``.jsonl`` or ``.ndjson``).

    Raises:
        ImportRefused: any other suffix.
    """
    suffix = Path(name).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise ImportRefused(f"{name}: expected a .csv or .jsonl file")


def import_stream(engine: Any, kind: Kind, binary: IO[bytes], name: str) -> ImportReport:
    """Import one file (``name`` gives its format) from a binary stream.

    Raises:
        ImportRefused: the file as a whole is unusable (format, encoding, header).
    """
    fmt = file_format(name)
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="" if fmt == "csv" else None)
    try:
        return Importer(engine).run(kind, read_records(kind, text, fmt), name)
    except ImportRefused as exc:
        raise ImportRefused(f"{name}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"{name}: not UTF-8 text (byte {exc.start})") from exc
    except csv.Error as exc:
        raise ImportRefused(f"{name}: not a readable CSV file: {exc}") from exc
    finally:
        text.detach()
