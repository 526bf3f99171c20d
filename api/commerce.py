"""Reading the commerce data: a member's purchases and value for the card, a store's sales for reports.

Every query here is indexed (transactions by member and time, by store and time; lines by transaction),
so that a card reads in a few milliseconds with a million transactions (docs/benchmarks.md).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from storelens.books.schema import member_insights, transaction_lines, transactions
from storelens.clock import iso

LAST_PURCHASES = 5


def counted(values: list[str], top: int) -> list[str]:
    """The ``top`` most frequent values, most frequent first (ties by name)."""
    return [v for v, _ in sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0]))[:top]]


def major(amount_minor: int | None) -> float | None:
    """Minor units (cents) as a decimal amount for display, or None."""
    return None if amount_minor is None else round(amount_minor / 100, 2)


def _receipts(member_id: str) -> Any:
    """A member's receipts: id, time, store, amount in minor units, currency."""
    t = transactions.c
    return select(t.txn_id, t.ts, t.store_id, t.amount_minor, t.currency).where(t.member_id == member_id)


def member_value(conn: Any, member_id: str, currency: str, now: datetime) -> dict[str, Any]:
    """The card's purchases and value.

    12-month spend and count in ``currency`` (receipts in other currencies summed apart, each in its own),
    average basket, segment and scores, last purchases, favourite categories, sizes bought, recommendations.
    Nothing dated after ``now`` counts.
    """
    t = transactions.c
    since, until = iso(now - timedelta(days=365)), iso(now)
    per_currency = {
        str(cur): (int(n), int(total or 0))  # PostgreSQL sums integers as numeric (Decimal)
        for cur, n, total in conn.execute(
            select(t.currency, func.count(), func.sum(t.amount_minor))
            .where(t.member_id == member_id, t.ts >= since, t.ts <= until)
            .group_by(t.currency)
        )
    }
    in_currency, spend = per_currency.pop(currency, (0, 0))
    last = conn.execute(_receipts(member_id).where(t.ts <= until).order_by(t.ts.desc()).limit(LAST_PURCHASES)).all()
    lines = conn.execute(
        select(
            transaction_lines.c.txn_id,
            transaction_lines.c.name,
            transaction_lines.c.category,
            transaction_lines.c.size,
            transaction_lines.c.sku,
        )
        .join(transactions, transactions.c.txn_id == transaction_lines.c.txn_id)
        .where(transactions.c.member_id == member_id)
    ).all()
    items: dict[str, list[str]] = {}
    for txn, name, _, _, sku in lines:
        items.setdefault(txn, []).append(name or sku)
    sizes_by_category: dict[str, list[str]] = {}
    for _, _, category, size, _ in lines:
        if size:
            sizes_by_category.setdefault(category, []).append(size)
    insight = conn.execute(select(member_insights).where(member_insights.c.member_id == member_id)).mappings().first()
    return {
        "currency": currency,
        "spend_12m": major(spend),
        "purchases_12m": in_currency,
        "other_currencies": [
            {"currency": cur, "spend": major(total), "purchases": n} for cur, (n, total) in sorted(per_currency.items())
        ],
        "average_basket": major(spend // in_currency) if in_currency else None,
        "segment": insight["segment"] if insight else None,
        "value_scores": {"purchasing_power": insight["m"], "loyalty": insight["f"], "willingness": insight["r"]}
        if insight and insight["r"]
        else None,
        "last_purchases": [
            {"time": ts, "store_id": store, "amount": major(amount), "currency": cur, "items": items.get(txn, [])}
            for txn, ts, store, amount, cur in last
        ],
        "favourite_categories": counted([c for _, _, c, _, _ in lines], 3),
        "sizes_bought": {category: counted(sizes, 1)[0] for category, sizes in sorted(sizes_by_category.items())},
        "recommendations": json.loads(insight["recommendations"]) if insight else [],
    }


def member_purchases(conn: Any, member_id: str) -> list[dict[str, Any]]:
    """Every purchase linked to a member, with its lines (the subject access export)."""
    rows = conn.execute(_receipts(member_id).order_by(transactions.c.ts)).all()
    out = []
    for txn, ts, store, amount, currency in rows:
        lines = conn.execute(
            select(
                transaction_lines.c.sku,
                transaction_lines.c.name,
                transaction_lines.c.category,
                transaction_lines.c.size,
                transaction_lines.c.quantity,
                transaction_lines.c.price_minor,
            )
            .where(transaction_lines.c.txn_id == txn)
            .order_by(transaction_lines.c.line_no)
        ).all()
        out.append(
            {
                "transaction_id": txn,
                "time": ts,
                "store_id": store,
                "amount": major(amount),
                "currency": currency,
                "lines": [
                    {"sku": s, "name": n, "category": c, "size": z, "quantity": q, "price": major(p)}
                    for s, n, c, z, q, p in lines
                ],
            }
        )
    return out


def unlink_member(conn: Any, member_id: str) -> dict[str, int]:
    """Erasure: the member's sales stay in the books without their id; their insights go. Returns counts."""
    unlinked = conn.execute(
        update(transactions).where(transactions.c.member_id == member_id).values(member_id=None)
    ).rowcount
    gone = conn.execute(member_insights.delete().where(member_insights.c.member_id == member_id)).rowcount
    return {"purchases_unlinked": int(unlinked or 0), "insights": int(gone or 0)}


def store_sales(
    conn: Any, start: str, end: str, store_id: str | None = None
) -> dict[str, list[tuple[str, int, str, bool]]]:
    """Per store: (time, amount in minor units, currency, by a member) of its transactions in [start, end)."""
    query = select(
        transactions.c.store_id,
        transactions.c.ts,
        transactions.c.amount_minor,
        transactions.c.currency,
        transactions.c.member_id.is_not(None),
    ).where(transactions.c.ts >= start, transactions.c.ts < end)
    if store_id is not None:
        query = query.where(transactions.c.store_id == store_id)
    out: dict[str, list[tuple[str, int, str, bool]]] = {}
    for store, ts, amount, cur, member in conn.execute(query):
        out.setdefault(str(store), []).append((str(ts), int(amount), str(cur), bool(member)))
    return out
