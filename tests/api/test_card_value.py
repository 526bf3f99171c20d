"""The member card's purchases, value segment and recommendations, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest

from storelens.api.insights import InsightsBuilder, quintile_scores, segment
from storelens.api.services import Services
from storelens.clock import utc_now
from storelens.config import default_config

PRODUCTS = """sku,name,category,sizes,in_stock,new,price
SHIRT-A,Oxford shirt,tops,S;M;L,true,false,60
SHIRT-B,Linen shirt,tops,S;L,true,false,70
SHIRT-C,Flannel shirt,tops,S;M;L,false,false,65
CHINO-A,Slim chinos,trousers,40;42,true,false,80
BELT-A,Leather belt,accessories,,true,false,40
NEW-TOP,Merino jumper,tops,M;L,true,true,110
NEW-OFF,Cashmere jumper,tops,XL,true,true,190
"""
MEMBERS = """member_id,name,sizes
M-ADA,Ada,tops=M;trousers=42
M-BOB,Bob,tops=M
M-CY,Cy,tops=L
M-DEE,Dee,tops=M
"""


def receipt(txn: str, member: str | None, days_ago: float, *skus: str, amount: str = "60.00") -> str:
    when = (utc_now() - timedelta(days=days_ago)).isoformat()
    lines = [{"sku": s, "name": s, "category": "accessories" if s.startswith("BELT") else
              ("trousers" if s.startswith("CHINO") else "tops"), "size": None if s.startswith("BELT") else "M",
              "quantity": 1, "price": f"{float(amount) / len(skus):.2f}"} for s in skus]  # fmt: skip
    return json.dumps({"transaction_id": txn, "store_id": "demo-store", "time": when, "amount": amount,
                       "currency": "EUR", "member_id": member, "lines": lines}) + "\n"  # fmt: skip


# Customers who bought the Oxford shirt also bought the chinos, the linen shirt and the flannel shirt.
HISTORY = "".join([
    receipt("T1", "M-BOB", 5, "SHIRT-A", "CHINO-A", amount="140.00"),
    receipt("T2", "M-CY", 6, "SHIRT-A", "SHIRT-B", amount="130.00"),
    receipt("T3", "M-DEE", 7, "SHIRT-A", "SHIRT-C", "BELT-A", amount="165.00"),
    receipt("T4", "M-ADA", 2, "SHIRT-A", amount="60.00"),
    receipt("T5", "M-ADA", 40, "BELT-A", amount="40.00"),
    receipt("T6", None, 1, "CHINO-A", amount="80.00"),
])  # fmt: skip


@pytest.fixture
def shop(store, tmp_path) -> Iterator[Services]:
    from storelens.gallery.factory import open_gallery
    from storelens.manifest import load_manifest

    for kind, text, name in (("products", PRODUCTS, "p.csv"), ("members", MEMBERS, "m.csv"),
                             ("transactions", HISTORY, "t.jsonl")):  # fmt: skip
        assert store.commerce.import_file(kind, io.BytesIO(text.encode()), name).imported
    InsightsBuilder(store.engine, "EUR").rebuild()
    config = default_config()
    spec = load_manifest().recogniser_of(config.models.pack)
    services = Services(config, store, gallery=lambda: open_gallery(config, spec, tmp_path / "gallery"))
    yield services
    services.gallery().close()


def test_the_card_holds_purchases_and_value(shop: Services) -> None:
    card = shop.card("M-ADA")
    assert (card["purchases_12m"], card["spend_12m"], card["average_basket"]) == (2, 100.0, 50.0)
    assert [p["items"] for p in card["last_purchases"]] == [["SHIRT-A"], ["BELT-A"]]  # newest first
    assert card["favourite_categories"] == ["accessories", "tops"] and card["sizes_bought"] == {"tops": "M"}
    assert card["segment"] and card["value_scores"]["purchasing_power"] in range(1, 6)


def test_money_in_another_currency_is_summed_in_its_own_and_the_future_does_not_count(shop: Services) -> None:
    from sqlalchemy import insert

    from storelens.books.schema import transactions
    from storelens.clock import iso

    usd = json.loads(receipt("T7", "M-ADA", 1, "SHIRT-A", amount="75.00")) | {"currency": "USD"}
    assert shop.books.commerce.import_file("transactions", io.BytesIO(json.dumps(usd).encode()), "u.jsonl").imported
    with shop.books.engine.begin() as conn:  # a receipt dated ahead, as an older import could have stored it
        conn.execute(insert(transactions).values(txn_id="T-FUTURE", store_id="demo-store", member_id="M-ADA",
                                                 ts=iso(utc_now() + timedelta(days=3000)), amount_minor=999_900,
                                                 currency="EUR", import_id="old"))  # fmt: skip
    card = shop.card("M-ADA")
    assert (card["purchases_12m"], card["spend_12m"], card["average_basket"]) == (2, 100.0, 50.0)
    assert card["other_currencies"] == [{"currency": "USD", "spend": 75.0, "purchases": 1}]
    assert [p["currency"] for p in card["last_purchases"]] == ["USD", "EUR", "EUR"]  # the future one is not there
    assert all(p["time"] <= iso(utc_now()) for p in card["last_purchases"])


def test_recommendations_exclude_what_was_bought_and_what_is_not_in_their_size(shop: Services) -> None:
    recs = {r["sku"]: r["reason"] for r in shop.card("M-ADA")["recommendations"]}
    assert "CHINO-A" in recs and recs["CHINO-A"] == "bought by customers who bought Oxford shirt"
    assert "SHIRT-A" not in recs and "BELT-A" not in recs  # already bought
    assert "SHIRT-B" not in recs  # linen shirt: no M in stock, Ada wears M
    assert "SHIRT-C" not in recs  # flannel shirt: out of stock
    assert "NEW-OFF" not in recs  # new, but only in XL
    assert recs.get("NEW-TOP") == "new in your size (M)"
    assert 2 <= len(recs) <= 5
    cy = {r["sku"] for r in shop.card("M-CY")["recommendations"]}  # Cy wears L: the linen shirt fits him
    assert "SHIRT-B" not in cy and "SHIRT-A" not in cy  # he bought both


@pytest.mark.parametrize(
    ("values", "higher_is_better", "expected"),
    [([10, 20, 30, 40, 50], True, [1, 2, 3, 4, 5]),
     ([1, 1, 1, 1, 9], True, [4, 4, 4, 4, 5]),  # ties share the higher score
     ([3, 60, 200, 9, 400], False, [5, 3, 2, 4, 1]),  # recency: fewer days scores higher
     ([7], True, [5])],
)  # fmt: skip
def test_quintile_scores(values, higher_is_better, expected) -> None:
    got = quintile_scores(np.array(values, np.float64), higher_is_better)
    assert got.tolist() == expected


@pytest.mark.parametrize(
    ("r", "f", "m", "name"),
    [(5, 5, 5, "champion"), (1, 4, 5, "at risk"), (3, 4, 2, "loyal"), (3, 2, 5, "big spender"),
     (5, 1, 1, "new"), (2, 1, 3, "hibernating"), (3, 3, 3, "regular"), (0, 0, 0, "no purchases yet")],
)  # fmt: skip
def test_segment_rule(r, f, m, name) -> None:
    assert segment(r, f, m) == name


def test_erasure_unlinks_purchases_and_the_export_holds_them(shop: Services) -> None:
    from storelens.web.auth import Principal

    who = Principal("dpo", "admin")
    export = shop.subject_access("M-ADA", who)
    assert export is not None and [p["transaction_id"] for p in export["purchases"]] == ["T5", "T4"]
    assert export["purchases"][0]["lines"][0]["sku"] == "BELT-A" and export["value"]["recommendations"]
    removed = shop.books.erase_member("M-ADA")
    assert (removed["purchases_unlinked"], removed["insights"], removed["profile"]) == (2, 1, 1)
    assert shop.books.commerce.purchases("M-ADA") == []
    sales = shop.books.commerce.sales("2000-01-01T00:00:00.000Z", "2100-01-01T00:00:00.000Z")["demo-store"]
    assert len(sales) == 6  # the sales stay in the books, without the member
