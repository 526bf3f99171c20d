"""CRM, catalogue and POS imports on SQLite and PostgreSQL: all or nothing, idempotent, bad rows named."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storelens.api.schema import members, products, transaction_lines, transactions
from storelens.errors import ImportRefused
from tests.helpers.cli import run_cli
from tests.helpers.configs import write_toml

MEMBERS_CSV = """member_id,name,tier,phone,member_code,sizes,preferences,home_store
M-1,Ada Lovelace,gold,+33 6 12 34 56 78,C-1,tops=M;shoes=38,silk,paris-01
M-2,Alan Turing,,,,trousers=42,,
"""
PRODUCTS_CSV = """sku,name,category,sizes,in_stock,new,price
TOP-1,Silk blouse,Tops,S;M;L,true,false,89.00
SHO-1,Loafers,shoes,37;38;39,true,true,120
ACC-1,Scarf,accessories,,false,false,35.5
"""
TXN_CSV = """transaction_id,store_id,time,amount,currency,member_id,sku,name,category,size,quantity,price
T-1,paris-01,2026-11-20T10:15:00+01:00,209.00,EUR,M-1,TOP-1,Silk blouse,tops,M,1,89.00
T-1,paris-01,2026-11-20T10:15:00+01:00,209.00,EUR,M-1,SHO-1,Loafers,shoes,38,1,120.00
T-2,paris-01,2026-11-21T16:00:00Z,35.50,EUR,,ACC-1,Scarf,accessories,,1,35.50
"""
TXN_JSONL = (
    json.dumps({"transaction_id": "T-3", "store_id": "paris-01", "time": "2026-11-22T11:00:00+01:00",
                "amount": "89.00", "currency": "EUR", "member_id": "M-2",
                "lines": [{"sku": "TOP-1", "name": "Silk blouse", "category": "tops", "size": "L", "quantity": 1,
                           "price": "89.00"}]}) + "\n"
)  # fmt: skip


def load(store, kind: str, text: str, name: str):
    return store.commerce.import_file(kind, io.BytesIO(text.encode()), name)


def snapshot(store) -> dict[str, list[tuple]]:
    with store.engine.connect() as conn:
        return {t.name: sorted(tuple(map(str, r)) for r in conn.execute(select(t)).all())
                for t in (members, products, transactions, transaction_lines)}  # fmt: skip


def test_import_then_reimport_changes_nothing(store) -> None:
    reports = [load(store, "members", MEMBERS_CSV, "members.csv"), load(store, "products", PRODUCTS_CSV, "p.csv"),
               load(store, "transactions", TXN_CSV, "t.csv"),
               load(store, "transactions", TXN_JSONL, "t.jsonl")]  # fmt: skip
    assert [(r.imported, r.records, r.added) for r in reports] == [(True, 2, 2), (True, 3, 3), (True, 2, 2),
                                                                   (True, 1, 1)]  # fmt: skip
    before = snapshot(store)
    again = [load(store, "members", MEMBERS_CSV, "members.csv"), load(store, "products", PRODUCTS_CSV, "p.csv"),
             load(store, "transactions", TXN_CSV, "t.csv")]  # fmt: skip
    assert [(r.added, r.changed, r.unchanged) for r in again] == [(0, 0, 2), (0, 0, 3), (0, 0, 2)]
    assert snapshot(store) == before  # not even a timestamp moved
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(transaction_lines)).scalar_one() == 4
        t1 = conn.execute(select(transactions).where(transactions.c.txn_id == "T-1")).mappings().one()
        ada = conn.execute(select(members).where(members.c.member_id == "M-1")).mappings().one()
        scarf = conn.execute(select(products).where(products.c.sku == "ACC-1")).mappings().one()
    assert (t1["ts"], t1["amount_minor"], t1["member_id"]) == ("2026-11-20T09:15:00.000Z", 20900, "M-1")
    assert (ada["phone"], json.loads(ada["sizes"]), ada["home_store"]) == ("+33612345678", {"tops": "M", "shoes": "38"},
                                                                          "paris-01")  # fmt: skip
    assert (scarf["in_stock"], scarf["price_minor"], json.loads(scarf["sizes"])) == (0, 3550, [])
    changed = load(store, "members", MEMBERS_CSV.replace("Alan Turing", "A. M. Turing"), "members.csv")
    assert (changed.added, changed.changed, changed.unchanged) == (0, 1, 1)


# kind, file name, content, words of the first reject
BAD = [
    ("members", "m.csv", "member_id,name\nM-1,Ada\n,Bob\n", "row 3, field member_id: Field required"),
    ("members", "m.csv", "member_id,name,phone\nM-1,Ada,call me\n", "row 2, field phone"),
    ("members", "m.csv", "member_id,name,sizes\nM-1,Ada,tops:M\n", "row 2: sizes: expected category=size pairs"),
    ("members", "m.csv", "member_id,name\nM-1,Ada\nM-1,Ada again\n", "row 3, field member_id: 'M-1' appears twice"),
    ("members", "m.csv", "member_id,name\nM-1,Ada,extra\n", "row 2: more cells than the 2 columns"),
    ("members", "m.jsonl", '{"member_id": "M-1", "name": "Ada"}\n{"member_id": "M 2"}\n', "row 2, field member_id"),
    ("members", "m.jsonl", '{"member_id": "M-1", "name": "Ada"}\nnot json\n', "row 2: not JSON"),
    ("products", "p.csv", "sku,name,category,price\nP-1,Hat,hats,-3\n", "row 2, field price"),
    ("products", "p.csv", "sku,name,category,price\nP-1,Hat,hats,1.999\n", "row 2, field price"),
    ("transactions", "t.csv", TXN_CSV.replace("2026-11-20T10:15:00+01:00,209.00", "2026-11-20T10:15:00,209.00", 1),
     "row 2, field time: a time zone offset is required"),
    ("transactions", "t.csv", TXN_CSV.replace(",EUR,,ACC-1", ",euro,,ACC-1"), "row 4, field currency"),
    ("transactions", "t.csv", TXN_CSV.replace("SHO-1,Loafers,shoes,38,1", "SHO-1,Loafers,shoes,38,0"),
     "row 2, field lines.1.quantity"),
    ("transactions", "t.csv", TXN_CSV + TXN_CSV.splitlines()[1] + "\n",
     "row 5, field transaction_id: 'T-1' appears twice"),
    ("transactions", "t.jsonl", TXN_JSONL.replace('"lines": [', '"lines": [], "x": ['), "row 1, field lines"),
    ("transactions", "t.jsonl", "", "the file holds no record"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "name", "content", "message"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_a_bad_row_is_named_and_nothing_is_imported(store, kind, name, content, message) -> None:
    load(store, "products", PRODUCTS_CSV, "p.csv")
    before = snapshot(store)
    report = load(store, kind, content, name)
    assert not report.imported and report.rejected >= 1
    assert message in report.rejects[0], report.rejects
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [("m.csv", "member_id,name,email\nM-1,Ada,a@b\n", "m.csv: unknown column(s) 'email'"),
     ("m.csv", "", "m.csv: the file is empty"),
     ("m.xlsx", "member_id,name\n", "m.xlsx: expected a .csv or .jsonl file"),
     ("m.csv", "\udcff", "not UTF-8")],
)  # fmt: skip
def test_a_file_that_is_unusable_as_a_whole_is_refused(store, name, content, message) -> None:
    data = content.encode("utf-8", "surrogateescape")
    with pytest.raises(ImportRefused, match=message.replace("(", r"\(").replace(")", r"\)")):
        store.commerce.import_file("members", io.BytesIO(data), name)


def _peak_kib(store, path: Path) -> float:
    tracemalloc.start()
    with path.open("rb") as fh:
        report = store.commerce.import_file("transactions", fh, path.name)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert report.imported
    return peak / 1024


def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    from storelens.api.books import StoreBooks
    from storelens.sample_videos.shop import generate_shop

    small = generate_shop(tmp_path / "small", "s", members=100, transactions=3_000)
    large = generate_shop(tmp_path / "large", "s", members=100, transactions=15_000, seed=8)
    peaks = []
    for name, shop in (("small", small), ("large", large)):
        store = StoreBooks(f"sqlite:///{tmp_path / name}.sqlite")
        peaks.append(_peak_kib(store, shop.transactions))
        store.close()
    assert peaks[1] < 1.5 * peaks[0], peaks  # five times the rows, not five times the memory


def test_cli_imports_and_names_bad_rows(tmp_path: Path) -> None:
    cfg = write_toml(tmp_path / "c.toml", {"store": {"id": "paris-01"}, "cameras": [{"id": "c", "source": "0"}],
                                           "api": {"database_url": f"sqlite:///{tmp_path / 'ev.sqlite'}"}})  # fmt: skip
    (tmp_path / "members.csv").write_text(MEMBERS_CSV)
    done = run_cli("crm", "import", "--config", str(cfg), str(tmp_path / "members.csv"))
    assert done.returncode == 0, done.stderr
    assert "2 members record(s): 2 added" in done.stdout and "recomputed for 2 member(s)" in done.stdout
    (tmp_path / "bad.csv").write_text("member_id,name\nM-9,Zed\n,Nobody\n,Nobody\n")
    bad = run_cli("crm", "import", "--config", str(cfg), "--json", str(tmp_path / "bad.csv"))
    assert bad.returncode == 2 and "nothing imported: 2 of 3 record(s) rejected" in bad.stderr
    report = json.loads(bad.stdout)
    assert report["rejects"] == ["row 3, field member_id: Field required", "row 4, field member_id: Field required"]
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    listed = run_cli("crm", "import", "--config", str(cfg), str(tmp_path / "nope.csv"))
    assert listed.returncode == 2 and "does not exist" in listed.stderr
