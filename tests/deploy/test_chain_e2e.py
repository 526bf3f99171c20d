"""Two store boxes bridged to one head office, end to end, with real brokers and the edge on the sample video.

Each box: its own Mosquitto (bridged with the files ``storelens deploy bridge`` writes), its store API
(with the chain agent) and ``storelens edge run`` on the sample video. Head office: a central Mosquitto with
passwords and ACLs, ``HqApp``, and ``storelens hq enroll | erase | report``. Shown here:

- a member enrolled at head office with chain-wide consent is announced at both stores; one with home-store
  consent only at the home store and not at the other;
- the central broker is stopped for 60 s while the edges run: afterwards head office holds every event of
  both stores exactly once, and its chain report equals the sum of the store reports;
- erasing the chain-wide member while one box is offline: the other box confirms at once, the offline one
  after it returns; then no box, no head-office table and no report names the member.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from storelens.apps.api import ApiApp
from storelens.chain_messages import VisitRecord, report_topic, status_topic, visit_topic
from storelens.clock import iso, utc_now
from storelens.config import load_config
from storelens.edge_events import ArrivalEvent, StatusEvent, new_event_id, topic
from storelens.hq.registry import box_status
from storelens.signing import SigningKey
from tests.helpers.chain import Chain, publish, wait_until
from tests.helpers.cli import REPO, STORELENS, run_cli
from tests.helpers.configs import edge_config
from tests.helpers.services import free_port
from tests.helpers.webhook import Receiver

STORES = ("store-a", "store-b")
CUT_SECONDS = 60
pytestmark = pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="needs Debian's mosquitto")


def store_data(tmp: Path, store_id: str, video: Path, truth: dict[str, Any], models: Path) -> dict[str, Any]:
    folder = tmp / store_id
    folder.mkdir()
    data = edge_config(folder, str(video), folder / "gallery", "mqtt://unused:1883", truth, models)
    data["store"] = {"id": store_id}
    data["api"] = {"port": free_port(), "database_url": f"sqlite:///{folder / 'events.sqlite'}"}
    data["api"]["photos_dir"] = str(folder / "photos")
    return data


def table_text(path: Path) -> str:
    """Every row of every table of a SQLite file, as text."""
    db = sqlite3.connect(path)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return json.dumps({n: db.execute(f'SELECT * FROM "{n}"').fetchall() for n in names}, default=str)
    finally:
        db.close()


def event_ids(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [r[0] for r in db.execute("SELECT event_id FROM events")]
    finally:
        db.close()


def start(command: list[str], config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*command, str(config)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def entries(report: Any, store_id: str) -> int:
    assert report.returncode == 0, report.stderr
    return sum(r["entries"] for r in json.loads(report.stdout) if r["store_id"] == store_id)


def test_two_boxes_and_head_office(tmp_path, video, truth, photos, prepared_models_dir) -> None:
    stores = {s: store_data(tmp_path, s, video, truth, prepared_models_dir) for s in STORES}
    chain = Chain(tmp_path, stores, chase_seconds=2.0).start()
    apis: dict[str, ApiApp] = {}
    try:
        for s in STORES:
            apis[s] = ApiApp(load_config(chain.store_configs[s]))
            apis[s].start()
        chainwide, home_only = (m["member_id"] for m in truth["members"])
        for member, scope in (
            (chainwide, ["--scope", "chain"]),
            (home_only, ["--scope", "home", "--home-store", "store-a"]),
        ):
            m = next(x for x in truth["members"] if x["member_id"] == member)
            done = run_cli("hq", "enroll", "--config", str(chain.hq_toml), "--member-id", member, "--consent",
                           f"CF-{member}", "--name", m["name"], *scope, *(str(photos[p]) for p in m["enrol_photos"]),
                           env={"STORELENS_MODELS_DIR": str(prepared_models_dir)})  # fmt: skip
            assert done.returncode == 0, done.stderr
        assert chain.app is not None
        registry = chain.app.members

        def confirmed() -> dict[str, dict[str, str]]:
            return {m["member_id"]: {s: d["state"] for s, d in m["stores"].items()} for m in registry.members()}

        want = {chainwide: {"store-a": "confirmed", "store-b": "confirmed"}, home_only: {"store-a": "confirmed"}}
        assert wait_until(lambda: confirmed() == want, 60), confirmed()
        held = {s: sorted(m.member_id for m in apis[s].services.gallery().members()) for s in STORES}
        assert held == {"store-a": sorted([chainwide, home_only]), "store-b": [chainwide]}

        # both edges run on the sample video; the head-office link is cut for 60 s while they run
        command = [STORELENS, "edge", "run", "--config"]
        edges = {s: start(command, chain.store_configs[s]) for s in STORES}
        time.sleep(3)
        chain.hq.stop()
        cut_at = time.monotonic()
        for s, proc in edges.items():
            out, _ = proc.communicate(timeout=300)
            assert proc.returncode == 0, f"{s}: {out[-2000:]}"
        stored = {s: event_ids(tmp_path / s / "events.sqlite") for s in STORES}
        assert wait_until(lambda: all(apis[s].services.books.events.count() == len(stored[s]) > 0 for s in STORES), 30)
        time.sleep(max(0.0, CUT_SECONDS - (time.monotonic() - cut_at)))
        chain.hq.start()  # the link is back: the store brokers' bridges deliver what they queued
        stored = {s: event_ids(tmp_path / s / "events.sqlite") for s in STORES}
        total = sum(len(ids) for ids in stored.values())
        assert wait_until(lambda: chain.app is not None and chain.app.events.count() >= total, 90)
        time.sleep(2)  # and nothing more (no duplicate) arrives after
        at_hq = event_ids(tmp_path / "hq.sqlite")
        assert sorted(at_hq) == sorted(stored["store-a"] + stored["store-b"])  # every event, exactly once
        assert chain.app.ingest.rejected == 0

        arrivals = {
            s: sorted(e.payload["member_id"] for e in apis[s].services.books.events.since(0, kind="vip_arrival"))
            for s in STORES
        }
        assert arrivals == {"store-a": sorted([chainwide, home_only]), "store-b": [chainwide]}

        day = utc_now().date()
        span = ["--from", str(day - timedelta(days=1)), "--to", str(day + timedelta(days=1)), "--format", "json"]
        chain_report = run_cli("hq", "report", "--config", str(chain.hq_toml), *span)
        by_store = {}
        for s in STORES:
            store_report = run_cli("report", "footfall", "--config", str(chain.store_configs[s]), *span)
            by_store[s] = entries(store_report, s)
            assert entries(chain_report, s) == by_store[s] > 0
        # the chain API, as an analyst: the chain's entries are the sum of the stores'
        made = run_cli("hq", "token", "create", "--config", str(chain.hq_toml), "--name", "analyst-1", "--role",
                       "analyst")  # fmt: skip
        assert made.returncode == 0, made.stderr
        api = f"http://127.0.0.1:{chain.hq_data['api']['port']}/api/v1/chain"
        auth = {"Authorization": f"Bearer {made.stdout.strip()}"}
        query = {"from": span[1], "to": span[3], "level": "chain", "interval": "1d"}
        rows = requests.get(f"{api}/footfall", params=query, headers=auth, timeout=10).json()
        assert sum(r["entries"] for r in rows) == sum(by_store.values())
        assert requests.get(f"{api}/members", headers=auth, timeout=10).status_code == 403  # analysts see no members
        boxes = requests.get(f"{api}/boxes", headers=auth, timeout=10).json()
        assert {b["store_id"] for b in boxes} == set(STORES)

        # erasure with store-b offline: store-a confirms now, store-b when it is back
        chain.brokers["store-b"].stop()
        done = run_cli("hq", "erase", "--config", str(chain.hq_toml), "--member-id", chainwide)
        assert done.returncode == 0 and "store-a, store-b" in done.stdout, done.stdout + done.stderr

        def erasure() -> dict[str, Any]:
            [row] = registry.erasures(chainwide)
            return row

        assert wait_until(lambda: list(erasure()["confirmed"]) == ["store-a"], 30), erasure()
        time.sleep(5)  # head office keeps chasing store-b
        row = erasure()
        assert [p["store_id"] for p in row["pending"]] == ["store-b"] and row["pending"][0]["attempts"] >= 2
        chain.brokers["store-b"].start()
        assert wait_until(lambda: erasure()["completed_at"] is not None, 90), erasure()
        assert erasure()["confirmed"]["store-b"]["removed"]["vectors"] >= 1
        listed = run_cli("hq", "erasures", "--config", str(chain.hq_toml), "--json")
        [line] = [json.loads(x) for x in listed.stdout.splitlines()]
        assert sorted(line["confirmed"]) == list(STORES) and line["pending"] == [] and chainwide not in listed.stdout

        for s in STORES:
            assert chainwide not in [m.member_id for m in apis[s].services.gallery().members()]
            assert chainwide not in table_text(tmp_path / s / "events.sqlite")
            assert chainwide not in table_text(tmp_path / s / "gallery" / "gallery.sqlite")
            report = run_cli("report", "footfall", "--config", str(chain.store_configs[s]), *span)
            assert report.returncode == 0 and chainwide not in report.stdout
        assert chainwide not in table_text(tmp_path / "hq.sqlite")
        report = run_cli("hq", "report", "--config", str(chain.hq_toml), *span)
        assert report.returncode == 0 and chainwide not in report.stdout
        assert home_only in [m.member_id for m in apis["store-a"].services.gallery().members()]  # untouched
    finally:
        for app in apis.values():
            app.stop()
        chain.stop()


def outbox(gallery_dir: Path) -> list[tuple[str, str]]:
    """A box's reports not yet noted by head office: (member_id, op)."""
    db = sqlite3.connect(gallery_dir / "gallery.sqlite")
    try:
        return [(r[0], r[1]) for r in db.execute("SELECT member_id, op FROM chain_outbox ORDER BY id")]
    finally:
        db.close()


def test_members_flow_both_ways(tmp_path, video, truth, photos, prepared_models_dir) -> None:
    """Enrolled at store A's counter with chain consent: head office and store B hold them; their visit at A reaches
    the member platform's webhook; erased at store B: gone from A, B and head office, with receipts, and the
    platform told; a retention purge at A: head office's record follows."""
    stores = {s: store_data(tmp_path, s, video, truth, prepared_models_dir) for s in STORES}
    for s in STORES:  # reports sent again quickly when one is lost; a visit closes a minute after the arrival
        stores[s]["chain"] = {"key_file": str(tmp_path / f"{s}-box.key"), "report_resend_seconds": 1.0,
                              "visit_minutes": 1}  # fmt: skip
    chain = Chain(tmp_path, stores, chase_seconds=1.0)
    secret = tmp_path / "crm.secret"
    secret.write_text("s" * 40 + "\n")
    receiver = Receiver(b"s" * 40).start()
    chain.hq_data["crm"] = {"webhook_url": receiver.url, "secret_file": str(secret), "timeout_seconds": 2.0}
    chain.start()
    apis: dict[str, ApiApp] = {}
    try:
        for s in STORES:
            apis[s] = ApiApp(load_config(chain.store_configs[s]))
            apis[s].start()
        assert chain.app is not None
        registry = chain.app.members
        first, second = truth["members"][:2]
        env = {"STORELENS_MODELS_DIR": str(prepared_models_dir)}
        for m, scope in ((first, "chain"), (second, "home")):
            done = run_cli("gallery", "enroll", "--config", str(chain.store_configs["store-a"]), "--gallery",
                           stores["store-a"]["gallery"]["dir"], "--member-id", m["member_id"], "--consent",
                           f"CF-{m['member_id']}", "--scope", scope, "--share-visits",
                           *(str(photos[p]) for p in m["enrol_photos"]), env=env)  # fmt: skip
            assert done.returncode == 0, done.stderr

        def states() -> dict[str, dict[str, str]]:
            return {m["member_id"]: {s: d["state"] for s, d in m["stores"].items()} for m in registry.members()}

        member = first["member_id"]
        want = {member: {"store-a": "confirmed", "store-b": "confirmed"}, second["member_id"]: {"store-a": "confirmed"}}
        assert wait_until(lambda: states() == want, 60), states()
        held = {s: len(apis[s].services.gallery().templates.member_vectors(member)[0]) for s in STORES}
        assert held["store-b"] == held["store-a"] >= 1  # store B recognises them with store A's vectors
        assert second["member_id"] not in [m.member_id for m in apis["store-b"].services.gallery().members()]
        gallery_a, gallery_b = (Path(stores[s]["gallery"]["dir"]) for s in STORES)
        assert wait_until(lambda: outbox(gallery_a) == [], 30), outbox(gallery_a)  # head office noted both

        # their visit at store A: taken by Alice on the iPad; once closed, delivered to the member platform
        arrival = ArrivalEvent(store_id="store-a", camera_id="door", member_id=member, similarity=0.8, track_id=1,
                               ts=iso(utc_now() - timedelta(minutes=2)))  # fmt: skip
        apis["store-a"].services.books.events.add(arrival.model_dump())
        apis["store-a"].services.books.events.take(arrival.event_id, "Alice")
        apis["store-a"].visits.poke()
        assert wait_until(lambda: arrival.event_id in receiver.deliveries(), 30), receiver.received
        [delivered] = receiver.deliveries()[arrival.event_id]
        assert (delivered["member_id"], delivered["store_id"], delivered["served_by"]) == (member, "store-a", "Alice")
        assert all(valid for *_, valid in receiver.received)

        # what store A's box sends is believed only when its key signed it: a camera's status goes on, signed, by
        # its store API; a visit, a status or a report that store A's bridge user sends unsigned, or signed with
        # store B's box key, changes nothing and reaches no webhook
        door = stores["store-a"]["cameras"][0]["id"]
        online = StatusEvent(store_id="store-a", camera_id=door, state="online")
        publish(chain.brokers["store-a"].port, [(topic("store-a", door, "status"), online)])
        assert wait_until(lambda: [(b["store_id"], b["camera_id"]) for b in box_status(chain.app.events.engine)]
                          == [("store-a", door)], 30), box_status(chain.app.events.engine)  # fmt: skip
        key_b = SigningKey.load(tmp_path / "store-b-box.key")
        forged = VisitRecord(visit_id=new_event_id(), store_id="store-a", camera_id=door, member_id=member,
                             arrived_at=iso(utc_now()), window_minutes=1, bought=True)  # fmt: skip
        offline = StatusEvent(store_id="store-a", camera_id=door, state="offline")
        erase = json.dumps({"store_id": "store-a", "op": "erased", "member_id": member}).encode()
        refused = chain.app.distributor.box_keys.refused
        publish(chain.hq_port, [(visit_topic("store-a"), forged.model_dump_json().encode()),
                                (visit_topic("store-a"), key_b.sign("visit", forged.model_dump_json().encode())),
                                (status_topic("store-a"), key_b.sign("status", offline.model_dump_json().encode())),
                                (report_topic("store-a"), key_b.sign("report", erase))],
                "store-store-a", chain.secrets["store-a"])  # fmt: skip
        assert wait_until(lambda: chain.app.distributor.box_keys.refused == refused + 4, 30)
        time.sleep(1)
        assert forged.visit_id not in receiver.deliveries() and len(receiver.deliveries()) == 1
        assert [b["state"] for b in box_status(chain.app.events.engine)] == ["online"]
        assert member in [m["member_id"] for m in registry.members()]  # the forged erasure erased nobody

        # the member asks store B to forget them: erased chain-wide, each box's receipt at head office
        assert apis["store-b"].services.erase(member) is not None
        assert wait_until(lambda: registry.erasures(member) and registry.erasures(member)[0]["completed_at"], 60), (
            registry.erasures(member)
        )
        [erasure] = registry.erasures(member)
        assert (
            sorted(erasure["confirmed"]) == list(STORES) and erasure["confirmed"]["store-a"]["removed"]["vectors"] >= 1
        )
        assert wait_until(lambda: outbox(gallery_b) == [], 30), outbox(gallery_b)
        for s in STORES:
            assert member not in [m.member_id for m in apis[s].services.gallery().members()]
            assert member not in table_text(Path(stores[s]["gallery"]["dir"]) / "gallery.sqlite")
        assert wait_until(lambda: receiver.deliveries("erasure"), 30)  # the platform is told to forget them too
        [[notice]] = receiver.deliveries("erasure").values()
        assert notice["member_id"] == member
        assert wait_until(lambda: member not in table_text(tmp_path / "hq.sqlite"), 30)

        # store A's retention purge: head office records that store A no longer holds the other member
        purged = apis["store-a"].services.gallery().purge_expired(1, now=utc_now() + timedelta(days=3))
        assert [r.member_id for r in purged] == [second["member_id"]]
        assert wait_until(lambda: states() == {second["member_id"]: {"store-a": "purged"}}, 30), states()
        assert wait_until(lambda: outbox(gallery_a) == [], 30), outbox(gallery_a)
    finally:
        for app in apis.values():
            app.stop()
        chain.stop()
        receiver.stop()
