"""Part 5 of ``storelens bench``: CRM and POS import speed, the insights rebuild, and the member card's latency.

A synthetic chain history (``sample_videos/shop.py``, seeded) of N members and M transactions is imported
into a fresh SQLite event store exactly as ``storelens pos import`` does; the value segments and
recommendations are rebuilt as the API's background worker does; then the card of random members is
read through the API (token check, access log write, every query), with the card of the same members
without commerce data (profile and visits only, as before) as the baseline in the same run.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from storelens.api.app import create_app
from storelens.api.books import StoreBooks
from storelens.api.insights import InsightsBuilder
from storelens.api.services import Services
from storelens.books.token_book import new_token
from storelens.config import default_config
from storelens.sample_videos.shop import generate_shop

START, END = "<!-- storelens-bench:commerce:start -->", "<!-- storelens-bench:commerce:end -->"
CARDS = 500  # card reads measured


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def _card_ms(client: Any, headers: dict[str, str], ids: list[str]) -> list[float]:
    out = []
    for member in ids:
        t0 = time.perf_counter()
        response = client.get(f"/api/v1/members/{member}", headers=headers)
        out.append(1000 * (time.perf_counter() - t0))
        if response.status_code != 200:
            raise RuntimeError(f"card of {member}: HTTP {response.status_code}")
    return out


def measure_commerce(members: int, transactions: int) -> dict[str, Any]:
    """Import, rebuild and card latency at the given scale."""
    from fastapi.testclient import TestClient

    with tempfile.TemporaryDirectory(prefix="storelens-bench-commerce-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        shop = generate_shop(work / "shop", "bench-store", members=members, transactions=transactions)
        generated_s = time.perf_counter() - t0
        db = work / "events.sqlite"
        baseline_store = StoreBooks(f"sqlite:///{work / 'baseline.sqlite'}")  # the card without commerce data
        store = StoreBooks(f"sqlite:///{db}")
        rates: dict[str, float] = {}
        for kind, path in (("products", shop.products), ("members", shop.members), ("transactions", shop.transactions)):
            t0 = time.perf_counter()
            with path.open("rb") as fh:
                report = store.commerce.import_file(kind, fh, path.name)  # type: ignore[arg-type]
            seconds = time.perf_counter() - t0
            if not report.imported:
                raise RuntimeError(report.summary())
            rates[kind] = report.records / seconds
            if kind == "members":
                with path.open("rb") as fh:
                    baseline_store.commerce.import_file("members", fh, path.name)
        t0 = time.perf_counter()
        rebuilt = InsightsBuilder(store.engine, "EUR").rebuild()
        rebuild_s = time.perf_counter() - t0
        rng = random.Random(5)
        ids = rng.sample(shop.member_ids, min(CARDS, len(shop.member_ids)))
        timings = {}
        for name, s in (("card", store), ("baseline", baseline_store)):
            token = new_token()
            s.tokens.add_token(token, "bench", "associate")
            client = TestClient(create_app(Services(default_config(store_id="bench-store"), s)))
            headers = {"Authorization": f"Bearer {token}"}
            _card_ms(client, headers, ids[:20])  # warm up
            timings[name] = _card_ms(client, headers, ids)
        with_recs = sum(1 for m in ids[:100] if store.commerce.member_value(m, "EUR")["recommendations"])
        store.close()
        baseline_store.close()
        size_mb = db.stat().st_size / 1e6
    return {
        "part": "commerce",
        "members": members,
        "transactions": shop.transactions_written,
        "generate_s": round(generated_s, 1),
        "import_products_per_s": round(rates["products"]),
        "import_members_per_s": round(rates["members"]),
        "import_transactions_per_s": round(rates["transactions"]),
        "rebuild_s": round(rebuild_s, 1),
        "rebuilt_members": rebuilt,
        "card_p50_ms": _p(timings["card"], 0.5),
        "card_p95_ms": _p(timings["card"], 0.95),
        "baseline_p50_ms": _p(timings["baseline"], 0.5),
        "baseline_p95_ms": _p(timings["baseline"], 0.95),
        "card_median_ms": round(statistics.median(timings["card"]), 2),
        "with_recommendations_of_100": with_recs,
        "database_mb": round(size_mb, 1),
    }


def commerce_markdown(r: dict[str, Any], machine: str, date: str, command: str) -> str:
    """The part-5 section of docs/benchmarks.md."""
    lines = [
        START,
        "## Part 5: CRM and POS imports, value and recommendations, the member card",
        "",
        f"- Machine: {machine}",
        f"- Date: {date}",
        f"- Command: `{command}`",
        f"- A synthetic history (seeded, `sample_videos/shop.py`) of {r['members']:,} members and "
        f"{r['transactions']:,} transactions (1-3 lines each) imported into a fresh SQLite event store as "
        f"`storelens pos import` does; {CARDS} random members' cards read through the API (token check, "
        "access-log write, every query). Baseline in the same run: the card of the same members without "
        "commerce data (profile and visits only). One import and one rebuild (each takes minutes at this "
        "scale); the card figures are percentiles of the 500 reads.",
        "",
        "| measure | value | goal |",
        "|---|---|---|",
        f"| import, products per s | {r['import_products_per_s']:,} | |",
        f"| import, members per s | {r['import_members_per_s']:,} | |",
        f"| import, transactions per s | {r['import_transactions_per_s']:,} | |",
        f"| value segments and recommendations rebuild, s ({r['rebuilt_members']:,} members) | {r['rebuild_s']} | |",
        f"| card p50 / p95 ms | {r['card_p50_ms']} / {r['card_p95_ms']} | p95 <= 50 |",
        f"| baseline card (no commerce data) p50 / p95 ms | {r['baseline_p50_ms']} / {r['baseline_p95_ms']} | |",
        f"| members (of 100 sampled) with recommendations | {r['with_recommendations_of_100']} | |",
        f"| database size, MB | {r['database_mb']} | |",
        END,
    ]
    return "\n".join(lines) + "\n"
