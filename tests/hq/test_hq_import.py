"""Head office imports a CRM manifest: each member recorded once and queued for the stores their consent covers."""

from __future__ import annotations

import json

from storelens.hq.database import HqDatabase
from tests.helpers.cli import run_cli
from tests.helpers.configs import write_toml


def test_head_office_imports_a_manifest_and_a_rerun_sends_nothing_twice(photos, prepared_models_dir, tmp_path) -> None:
    crm = tmp_path / "crm"
    crm.mkdir()
    for name in ("obama.jpg", "biden.jpg"):
        (crm / name).write_bytes(photos[name].read_bytes())
    rows = [
        {"member_id": "M-1", "consent_reference": "CF-1", "scope": "chain", "photos": ["obama.jpg"]},
        {"member_id": "M-2", "consent_reference": "CF-2", "home_store": "store-a", "photos": ["biden.jpg"]},
        {"member_id": "M-3", "consent_reference": "CF-3", "photos": ["biden.jpg"]},  # scope home, no home store
    ]
    manifest = crm / "members.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'hq.sqlite'}"
    hq = write_toml(tmp_path / "hq.toml", {"database_url": url, "stores": [{"id": "store-a"}, {"id": "store-b"}]})
    env = {"STORELENS_MODELS_DIR": str(prepared_models_dir)}
    first = run_cli("hq", "import", "--json", "--config", str(hq), str(manifest), env=env)
    verdicts = {v["member_id"]: v for v in map(json.loads, first.stdout.splitlines())}
    assert first.returncode == 2, first.stderr
    assert {m: v["status"] for m, v in verdicts.items()} == {"M-1": "enrolled", "M-2": "enrolled", "M-3": "refused"}
    assert verdicts["M-3"]["reason"] == "home_store: required at head office for a member of scope home"
    db = HqDatabase(url)
    try:
        held = {m["member_id"]: (m["version"], sorted(m["stores"])) for m in db.members.members()}
    finally:
        db.close()
    assert {m: stores for m, (_, stores) in held.items()} == {"M-1": ["store-a", "store-b"], "M-2": ["store-a"]}
    again = run_cli("hq", "import", "--json", "--config", str(hq), str(manifest), env=env)
    statuses = {v["member_id"]: v["status"] for v in map(json.loads, again.stdout.splitlines())}
    assert statuses == {"M-1": "skipped", "M-2": "skipped", "M-3": "refused"}, again.stdout
    db = HqDatabase(url)
    try:
        assert {m["member_id"]: (m["version"], sorted(m["stores"])) for m in db.members.members()} == held
    finally:
        db.close()
