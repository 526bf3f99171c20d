"""A synthetic shop for the demo and the benchmark: a catalogue, CRM members and POS history (seeded).

The data is made up, and says so: it shows the wiring (imports, cards, recommendations, conversion), not
anyone's real behaviour. Purchases follow "styles" (customers who buy one item of a style tend to buy
others of it), so that the item-item recommender has something to find. Files are written streaming, so
the benchmark's million transactions take bounded memory.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

CATEGORIES = {
    "tops": ["XS", "S", "M", "L", "XL"],
    "trousers": ["36", "38", "40", "42", "44"],
    "shoes": ["39", "40", "41", "42", "43", "44"],
    "accessories": [],
}
STYLES = ("classic", "sport", "city", "weekend", "evening")
NOUNS = {"tops": "shirt", "trousers": "chinos", "shoes": "loafers", "accessories": "belt"}


@dataclass(frozen=True)
class ShopFiles:
    """Where the generated files are."""

    members: Path
    products: Path
    transactions: Path
    member_ids: list[str]
    transactions_written: int
    recent: int  # of them, in the half hour before ``now``


def _catalogue(per_style: int) -> list[dict[str, Any]]:
    out = []
    for s, style in enumerate(STYLES):
        for category, sizes in CATEGORIES.items():
            for k in range(per_style):
                sku = f"{category[:3].upper()}-{style[:3].upper()}-{k + 1:02d}"
                out.append(
                    {
                        "sku": sku,
                        "name": f"{style.title()} {NOUNS[category]} {k + 1}",
                        "category": category,
                        "sizes": ";".join(sizes),
                        "in_stock": "true" if (k + s) % 7 else "false",
                        "new": "true" if k == per_style - 1 else "false",
                        "price": f"{29 + 10 * (s + k) + 20 * list(CATEGORIES).index(category)}.00",
                    }
                )
    return out


def generate_shop(
    directory: Path,
    store_id: str,
    members: int = 200,
    transactions: int = 2000,
    named: dict[str, str] | None = None,
    now: datetime | None = None,
    seed: int = 7,
    recent: int = 0,
) -> ShopFiles:
    """Write ``products.csv``, ``members.csv`` and ``transactions.jsonl`` into ``directory``.

    Args:
        directory: where to write (created).
        store_id: the store the transactions happened in.
        members: how many CRM members (``named`` ones first: member id -> name).
        transactions: how many receipts over the past 365 days (about a third without a member).
        named: members to include by id, e.g. the sample video's.
        now: the end of the history (default: the current time).
        seed: the random seed (the same files for the same arguments).
        recent: of ``transactions``, how many happened in the half hour before ``now`` (the demo's "today").
    """
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    end = now or datetime.now().astimezone()
    catalogue = _catalogue(per_style=6)
    with (directory / "products.csv").open("w", newline="") as fh:
        products_out = csv.DictWriter(fh, fieldnames=list(catalogue[0]))
        products_out.writeheader()
        products_out.writerows(catalogue)
    ids = list((named or {}).keys()) + [f"M-{i:06d}" for i in range(max(0, members - len(named or {})))]
    style_of = rng.integers(0, len(STYLES), len(ids))
    size_of = {category: rng.integers(0, max(1, len(sizes)), len(ids)) for category, sizes in CATEGORIES.items()}
    with (directory / "members.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["member_id", "name", "tier", "phone", "member_code", "sizes", "preferences", "home_store"])
        for i, mid in enumerate(ids):
            on_file = ";".join(f"{c}={s[size_of[c][i]]}" for c, s in CATEGORIES.items() if s)
            writer.writerow(
                [
                    mid,
                    (named or {}).get(mid, f"Member {i}"),
                    ("gold", "silver", "")[i % 3],
                    f"+3361{i:07d}",
                    f"C{i:07d}",
                    on_file,
                    f"likes {STYLES[style_of[i]]} style",
                    store_id,
                ]
            )
    by_style: dict[int, list[dict[str, Any]]] = {}
    for p in catalogue:
        by_style.setdefault(STYLES.index(p["name"].split()[0].lower()), []).append(p)
    written = 0
    with (directory / "transactions.jsonl").open("w") as fh:
        for t in range(transactions):
            buyer = int(rng.integers(0, len(ids))) if rng.random() < 0.7 else None
            style = int(style_of[buyer]) if buyer is not None and rng.random() < 0.8 else int(rng.integers(0, 5))
            picks = rng.choice(len(by_style[style]), size=int(rng.integers(1, 4)), replace=False)
            lines = []
            for k in picks:
                p = by_style[style][int(k)]
                sizes = CATEGORIES[p["category"]]
                size = (
                    sizes[size_of[p["category"]][buyer] if buyer is not None else int(rng.integers(0, len(sizes)))]
                    if sizes
                    else None
                )
                lines.append(
                    {
                        "sku": p["sku"],
                        "name": p["name"],
                        "category": p["category"],
                        "size": size,
                        "quantity": 1,
                        "price": p["price"],
                    }
                )
            if t >= transactions - recent:
                when = (end - timedelta(minutes=float(rng.uniform(0, 30)))).replace(microsecond=0)
            else:  # the year before today, more sales lately, in opening hours
                when = end - timedelta(days=1 + float(rng.uniform(0, 364)) ** 1.3 / 364**0.3)
                when = when.replace(hour=10 + int(rng.integers(0, 9)), microsecond=0)
            amount = sum(float(ln["price"]) for ln in lines)
            fh.write(
                json.dumps(
                    {
                        "transaction_id": f"T-{store_id}-{t:08d}",
                        "store_id": store_id,
                        "time": when.isoformat(),
                        "amount": f"{amount:.2f}",
                        "currency": "EUR",
                        "member_id": ids[buyer] if buyer is not None else None,
                        "lines": lines,
                    }
                )
                + "\n"
            )
            written += 1
    return ShopFiles(
        directory / "members.csv", directory / "products.csv", directory / "transactions.jsonl", ids, written, recent
    )
