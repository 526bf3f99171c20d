"""CRM, catalogue and POS imports on SQLite and PostgreSQL: all or nothing, idempotent, bad rows named."""

from __future__ import annotations

import contextlib
import io
import json
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storelens.books.schema import members, products, transaction_lines, transactions
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
    ("transactions", "t.csv", TXN_CSV + "\n".join(TXN_CSV.splitlines()[1:3]) + "\n",
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
    (tmp_path / "deep.jsonl").write_text(NESTED)  # json.loads would recurse past Python's limit
    deep = run_cli("crm", "import", "--config", str(cfg), str(tmp_path / "deep.jsonl"))
    assert deep.returncode == 2 and "nested deeper than 8 levels" in deep.stderr and "Traceback" not in deep.stderr
    listed = run_cli("crm", "import", "--config", str(cfg), str(tmp_path / "nope.csv"))
    assert listed.returncode == 2 and "does not exist" in listed.stderr


def txn(txn_id: str, amount: str, *prices: str, when: str = "2026-11-20T10:15:00+01:00", **over: object) -> str:
    record = {"transaction_id": txn_id, "store_id": "paris-01", "time": when, "amount": amount, "currency": "EUR",
              "member_id": "M-1", "lines": [{"sku": "TOP-1", "name": "Silk blouse", "category": "tops", "quantity": 1,
                                             "price": p} for p in prices]}  # fmt: skip
    return json.dumps({**record, **over}) + "\n"


def many(kind: str, count: int, repeat: str) -> str:
    """A file of ``count`` records whose last repeats the id ``repeat`` (so across two batches of 2,000)."""
    if kind == "members":
        return "member_id,name\n" + "".join(f"M-{i},Person {i}\n" for i in range(count)) + f"{repeat},Again\n"
    return "sku,name,category\n" + "".join(f"P-{i},Thing {i},tops\n" for i in range(count)) + f"{repeat},Again,tops\n"


NESTED = '{"member_id": "M-1", "name": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
# the defects of issue 23, each a file that must be refused whole, naming the row and the field
CONTRADICTIONS = [
    ("transactions", "t.jsonl", txn("T-9", "-500.00", "10.00"),
     "row 1, field lines: the lines add up to 10.00, the amount says -500.00"),
    ("transactions", "t.jsonl", txn("T-9", "500.00", "10.00"), "row 1, field lines: the lines add up to 10.00"),
    ("transactions", "t.csv", TXN_CSV.replace("209.00,EUR,M-1,SHO-1", "209.00,EUR,M-2,SHO-1"),
     "row 3: field member_id: 'M-2' where row 2"),
    ("transactions", "t.csv", TXN_CSV.replace("T-1,paris-01,2026-11-20T10:15:00+01:00,209.00,EUR,M-1,SHO-1",
                                              "T-1,lyon-02,2026-11-20T10:15:00+01:00,209.00,EUR,M-1,SHO-1"),
     "row 3: field store_id: 'lyon-02'"),
    ("transactions", "t.csv",
     TXN_CSV.replace("10:15:00+01:00,209.00,EUR,M-1,SHO-1", "11:15:00+01:00,209.00,EUR,M-1,SHO-1"),
     "row 3: field time"),
    ("transactions", "t.csv", TXN_CSV.replace("209.00,EUR,M-1,SHO-1", "209.00,USD,M-1,SHO-1"), "row 3: field currency"),
    ("transactions", "t.jsonl", txn("T-9", "89.00", "89.00", when="2099-01-01T10:00:00+00:00"),
     "row 1, field time: 2099-01-01T10:00:00+00:00 is after the time of import"),
    ("members", "m.csv", many("members", 2_500, "M-7"),
     "row 2502, field member_id: 'M-7' appears twice in the file (first on row 9)"),
    ("products", "p.csv", many("products", 2_500, "P-7"), "row 2502, field sku: 'P-7' appears twice"),
    ("members", "m.csv", "member_id,name\nM-1,Ada\x00Lovelace\n",
     "row 2, field name: a control or bidirectional-override character (U+0000)"),
    ("members", "m.jsonl", '{"member_id": "M-1", "name": "Ada \\u001b[31mred"}\n', "row 1, field name: a control"),
    ("members", "m.jsonl", '{"member_id": "M-1", "name": "Ada \\u202eecalevol"}\n', "(U+202E)"),
    ("members", "m.jsonl", '{"member_id": "M-1", "name": "Ada", "sizes": {"tops": "M\\u2066"}}\n',
     "row 1, field sizes"),
    ("products", "p.csv", "sku,name,category\nP-1,Hat\x1b,hats\n", "row 2, field name"),
    ("transactions", "t.jsonl", txn("T-9", "89.00", "89.00").replace("Silk blouse", "Silk\\u202eblouse"),
     "row 1, field lines.0.name"),
    ("members", "m.jsonl", NESTED, "row 1: nested deeper than 8 levels"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "name", "content", "message"), CONTRADICTIONS, ids=[f"{c[0]}-{i}" for i, c in enumerate(CONTRADICTIONS)]
)
def test_a_contradictory_file_is_refused_by_row_and_field(store, kind, name, content, message) -> None:
    load(store, "products", PRODUCTS_CSV, "p.csv")
    before = snapshot(store)
    report = load(store, kind, content, name)
    assert not report.imported and message in report.rejects[0], report.rejects
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("again", "message"),
    [(TXN_CSV.replace("209.00", "210.00").replace(",89.00\n", ",90.00\n", 1), "row 2, field amount: transaction 'T-1' "
      "was imported before with amount '209.00', this file says '210.00'"),
     (TXN_CSV.replace("T-2,paris-01", "T-2,lyon-02"), "row 4, field store_id"),
     (TXN_CSV.replace("T-2,paris-01,2026-11-21T16:00:00Z", "T-2,paris-01,2026-11-21T16:05:00Z"), "row 4, field time"),
     (TXN_CSV.replace("SHO-1,Loafers,shoes,38,1,120.00", "SHO-1,Loafers,shoes,38,2,60.00"), None)],
)  # fmt: skip
def test_a_reimport_that_differs_is_a_conflict_by_row(store, again: str, message: str | None) -> None:
    assert load(store, "transactions", TXN_CSV, "t.csv").imported
    before = snapshot(store)
    report = load(store, "transactions", again, "t.csv")
    if message is None:  # other lines, the same total: a conflict of lines
        assert not report.imported and "field lines" in report.rejects[0], report.rejects
    else:
        assert not report.imported and message in report.rejects[0], report.rejects
    assert snapshot(store) == before


def test_a_receipt_unlinked_by_an_erasure_reimports_unchanged(store) -> None:
    assert load(store, "transactions", TXN_CSV, "t.csv").imported
    with store.engine.begin() as conn:
        store.commerce.erase(conn, "M-1")
    report = load(store, "transactions", TXN_CSV, "t.csv")
    assert report.imported and (report.added, report.unchanged) == (0, 2)
    with store.engine.connect() as conn:
        assert conn.execute(select(transactions.c.member_id).where(transactions.c.txn_id == "T-1")).scalar() is None


def test_the_importer_gives_no_traceback_on_any_line(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from storelens.api.books import StoreBooks
    from storelens.api.imports import import_stream

    books = StoreBooks(f"sqlite:///{tmp_path / 'fuzz.sqlite'}")
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=30,
    )
    keys = st.sampled_from(["member_id", "name", "tier", "sizes", "phone", "transaction_id", "lines", "amount", "x"])
    records = st.dictionaries(keys, json_values).map(json.dumps)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(lines=st.lists(st.one_of(st.text(max_size=200), records, st.just("[" * 5000)), max_size=5),
           kind=st.sampled_from(["members", "products", "transactions"]),
           name=st.sampled_from(["f.csv", "f.jsonl"]))  # fmt: skip
    def check(lines: list[str], kind: str, name: str) -> None:
        data = "\n".join(lines).encode("utf-8", "surrogatepass")
        with contextlib.suppress(ImportRefused):  # the file as a whole: one line; anything else fails the test
            import_stream(books.engine, kind, io.BytesIO(data), name)  # type: ignore[arg-type]

    check()
    books.close()
