"""Bulk enrolment from a manifest: one verdict per row, each member all or nothing, resumable after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from storelens.config import Config
from storelens.errors import ConfigError
from storelens.gallery.bulk import read_manifest
from tests.helpers.cli import STORELENS, run_cli
from tests.helpers.configs import make_config


def _jsonl(folder: Path, rows: list[dict | str]) -> Path:
    path = folder / "members.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def _row(mid: str, *photos: str, **extra: object) -> dict:
    return {"member_id": mid, "name": mid.title(), "consent_reference": f"CF-{mid}", "photos": list(photos)} | extra


@pytest.mark.parametrize(
    ("row", "reason"),
    [(_row("m1", "missing.jpg"), "photo 'missing.jpg' not found"),
     (_row("m1", "../outside.jpg"), "photo '../outside.jpg' is outside the manifest's folder"),
     (_row("m1", "/etc/hostname"), "photo '/etc/hostname' is outside the manifest's folder"),
     ({"member_id": "m1", "photos": ["a.jpg"]}, "consent_reference: Field required"),
     (_row("m 1/x", "a.jpg"), "member_id: String should match pattern"),
     (_row("m1", "a.jpg", colour="red"), "colour: unknown field"),
     (_row("m1"), "photos: List should have at least 1 item"),
     (_row("m1", "a.jpg", minor=True), "guardian consent reference is required"),
     ("{not json", "not JSON"),
     ("[1, 2]", "not a JSON object")],
    ids=["missing-photo", "dot-dot", "absolute", "no-consent", "bad-id", "unknown-field", "no-photo", "minor",
         "not-json", "not-object"],
)  # fmt: skip
def test_each_bad_row_is_refused_alone_with_one_line(tmp_path: Path, row: dict | str, reason: str) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path.parent / "outside.jpg").write_bytes(b"x")
    config = make_config()
    manifest = _jsonl(tmp_path, [_row("good", "a.jpg"), row])
    members, refused = read_manifest(manifest, config.privacy_rules(), config.enrolment)
    assert [m.info.member_id for m in members] == ["good"]
    assert len(refused) == 1 and refused[0].row == 2 and reason in refused[0].reason, refused


def test_a_member_id_on_several_rows_refuses_every_one_of_them(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    config = make_config()
    manifest = _jsonl(tmp_path, [_row("m1", "a.jpg"), _row("m2", "a.jpg"), _row("m1", "a.jpg")])
    members, refused = read_manifest(manifest, config.privacy_rules(), config.enrolment)
    assert [m.info.member_id for m in members] == ["m2"]
    twice = "member id on several rows (1, 3)"
    assert [(v.row, v.reason) for v in refused] == [(1, twice), (3, twice)]


def test_a_consent_the_privacy_profile_finds_short_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    config = Config.model_validate(
        {"store": {"id": "s1"}, "cameras": [{"id": "c", "source": "x"}], "privacy": {"profile": "us-il"}}
    )
    released = _row("m1", "a.jpg", separate_consent=True, written_release="WR-1")
    manifest = _jsonl(tmp_path, [released, _row("m2", "a.jpg")])
    members, refused = read_manifest(manifest, config.privacy_rules(), config.enrolment)
    assert [m.info.member_id for m in members] == ["m1"]
    assert refused[0].member_id == "m2" and "written release" in refused[0].reason


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [("m.csv", "member_id,colour,photos\nm1,red,a.jpg\n", "unknown: colour"),
     ("m.txt", "member_id\n", "a manifest is .csv or .jsonl"),
     ("m.csv", b"member_id\n\xff\xfe\n", "not UTF-8")],
)  # fmt: skip
def test_a_manifest_that_cannot_be_read_is_refused_whole(tmp_path: Path, name: str, text, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    config = make_config()
    with pytest.raises(ConfigError, match=message):
        read_manifest(path, config.privacy_rules(), config.enrolment)


def _with_face_behind(photos: dict[str, Path], dest: Path) -> Path:
    """Obama's portrait with Biden's face, shrunk, pasted into the top-left corner: a face in the background."""
    img = cv2.imread(str(photos["obama.jpg"]))
    biden = cv2.imread(str(photos["biden.jpg"]))
    small = cv2.resize(biden[100:700, 150:800], (130, 120))
    img[10:130, 10:140] = small
    cv2.imwrite(str(dest), img)
    return dest


def test_cli_import_gives_a_verdict_per_row_and_a_rerun_resumes(photos, prepared_models_dir, tmp_path) -> None:
    crm = tmp_path / "crm"
    (crm / "photos").mkdir(parents=True)
    for name in ("obama.jpg", "obama2.jpg", "biden.jpg", "person_a_2.jpg", "t1.jpg"):
        (crm / "photos" / name).write_bytes(photos[name].read_bytes())
    _with_face_behind(photos, crm / "photos" / "obama-and-someone.jpg")
    (crm / "members.csv").write_text(
        "member_id,name,consent_reference,photos\n"
        "M-obama,Barack Obama,CF-1,photos/obama-and-someone.jpg;photos/obama2.jpg\n"
        "M-biden,Joe Biden,CF-2,photos/biden.jpg\n"
        "M-macron,Emmanuel Macron,CF-3,photos/person_a_2.jpg\n"
        "M-group,A Group,CF-4,photos/t1.jpg\n"
        "M-lost,Lost Photo,CF-5,photos/nowhere.jpg\n",
        encoding="utf-8",
    )
    common = ("--gallery", str(tmp_path / "gallery"), "--models-dir", str(prepared_models_dir))
    first = run_cli("gallery", "import", "--json", str(crm / "members.csv"), *common)
    verdicts = {v["member_id"]: v for v in map(json.loads, first.stdout.splitlines())}
    assert first.returncode == 2, first.stderr  # some rows refused, the rest done
    assert {m: v["status"] for m, v in verdicts.items()} == {
        "M-obama": "enrolled", "M-biden": "enrolled", "M-macron": "enrolled", "M-group": "refused",
        "M-lost": "refused",
    }  # fmt: skip
    assert verdicts["M-obama"]["photos"] == 2 and "1 other face(s) ignored" in verdicts["M-obama"]["reason"]
    assert "none clearly the subject" in verdicts["M-group"]["reason"]
    assert "photo 'photos/nowhere.jpg' not found" in verdicts["M-lost"]["reason"]
    listed = run_cli("gallery", "list", "--json", *common)
    assert sorted(json.loads(line)["member_id"] for line in listed.stdout.splitlines()) == [
        "M-biden", "M-macron", "M-obama"
    ]  # fmt: skip
    again = run_cli("gallery", "import", str(crm / "members.csv"), *common)
    assert "0 enrolled, 3 skipped, 2 refused" in again.stdout, again.stdout
    assert again.stdout.count("already enrolled from the same photos") == 3


def test_an_import_killed_halfway_then_run_again_holds_every_member_once(photos, prepared_models_dir, tmp_path):
    from storelens.gallery.factory import open_gallery
    from storelens.manifest import load_manifest

    crm = tmp_path / "crm"
    crm.mkdir()
    names = ("obama.jpg", "biden.jpg", "person_a_2.jpg", "person_b_1.jpg")
    for name in names:
        (crm / name).write_bytes(photos[name].read_bytes())
    members = 60
    manifest = _jsonl(crm, [_row(f"m{i:04d}", names[i % len(names)]) for i in range(members)])
    gallery_dir = tmp_path / "gallery"
    argv = [STORELENS, "gallery", "import", "--json", "--allow-lookalikes", "--batch", "8", str(manifest), "--gallery",
            str(gallery_dir), "--models-dir", str(prepared_models_dir)]  # fmt: skip
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        for seen, _ in enumerate(proc.stdout or (), start=1):
            if seen == 20:  # two batches of 8 stored, more under way
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    again = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
    statuses = [json.loads(line)["status"] for line in again.stdout.splitlines()]
    assert again.returncode == 0 and len(statuses) == members, again.stderr
    assert 16 <= statuses.count("skipped") < members and statuses.count("refused") == 0
    config = make_config()
    gallery = open_gallery(config, load_manifest().recogniser_of("default"), gallery_dir)
    listed = gallery.members()
    assert sorted(m.member_id for m in listed) == [f"m{i:04d}" for i in range(members)]
    assert all(m.vectors == 1 for m in listed) and len(gallery) == members
    _, vectors, owners = gallery.templates.all_vectors()
    assert len(set(owners)) == members and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    gallery.close()
