"""Bulk enrolment from the console: a manifest and a zip of photos; an unsafe zip is refused whole."""

from __future__ import annotations

import io
import stat
import time
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from storelens.api.app import create_app
from storelens.api.books import StoreBooks
from storelens.apps.api import build_services
from storelens.books.token_book import new_token
from storelens.config import Config

MANIFEST = (
    "member_id,name,consent_reference,photos\n"
    "M-obama,Barack Obama,CF-1,people/obama.jpg\n"
    "M-biden,Joe Biden,CF-2,people/biden.jpg\n"
    "M-group,A Group,CF-3,people/t1.jpg\n"
    "M-lost,Nobody,CF-4,people/nowhere.jpg\n"
)


@pytest.fixture
def api(tmp_path, prepared_models_dir):
    config = Config.model_validate(
        {
            "store": {"id": "paris-01"},
            "cameras": [{"id": "entrance", "source": "rtsp://x/1"}],
            "models": {"dir": str(prepared_models_dir)},
            "gallery": {"dir": str(tmp_path / "gallery"), "refresh_seconds": 0},
            "api": {"max_import_files": 100},
        }
    )
    books = StoreBooks(f"sqlite:///{tmp_path / 'events.sqlite'}")
    services = build_services(config, books)
    admin, associate = new_token(), new_token()
    books.tokens.add_token(admin, "hq", "admin")
    books.tokens.add_token(associate, "ipad-1", "associate")
    with TestClient(create_app(services)) as client:
        client.admin = {"Authorization": f"Bearer {admin}"}  # type: ignore[attr-defined]
        client.associate = {"Authorization": f"Bearer {associate}"}  # type: ignore[attr-defined]
        client.services = services  # type: ignore[attr-defined]
        yield client
    services.close()


def _zip(entries: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def _post(api, photos: bytes, manifest: str = MANIFEST, **form: str):
    files = {"manifest": ("members.csv", manifest.encode(), "text/csv"), "photos": ("p.zip", photos, "application/zip")}
    return api.post("/api/v1/member-imports", files=files, data=form, headers=api.admin)


def test_the_console_imports_a_manifest_and_shows_each_rows_verdict(api, photos) -> None:
    archive = _zip({f"people/{n}": photos[n].read_bytes() for n in ("obama.jpg", "biden.jpg", "t1.jpg")})
    started = _post(api, archive)
    assert started.status_code == 202, started.text
    job, rows = started.json(), list(started.json()["verdicts"])
    deadline = time.monotonic() + 120
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
        job = api.get(f"/api/v1/member-imports/{job['id']}?since={len(rows)}", headers=api.admin).json()
        rows += job["verdicts"]
    assert job["state"] == "done" and (job["enrolled"], job["skipped"], job["refused"]) == (2, 0, 2)
    by_member = {r["member_id"]: r for r in rows}
    assert by_member["M-group"]["status"] == "refused" and "none clearly the subject" in by_member["M-group"]["reason"]
    assert by_member["M-lost"]["reason"] == "photo 'people/nowhere.jpg' not found"
    assert sorted(m.member_id for m in api.services.gallery().members()) == ["M-biden", "M-obama"]


@pytest.mark.parametrize(
    ("entries", "links", "message"),
    [({"../../evil.jpg": b"x"}, (), "would be written outside its folder"),
     ({"/etc/evil.jpg": b"x"}, (), "would be written outside its folder"),
     ({"bomb.jpg": b"\0" * 30_000_000}, (), "(a zip bomb)"),
     ({f"p/{i}.jpg": b"x" for i in range(101)}, (), "101 entries, more than the 100 accepted"),
     ({}, ("people/link.jpg",), "is a link")],
    ids=["dot-dot", "absolute", "zip-bomb", "too-many-files", "symlink"],
)  # fmt: skip
def test_an_unsafe_zip_is_refused_whole_and_nothing_changes(api, entries, links, message) -> None:
    res = _post(api, _zip(entries, links))
    assert res.status_code == 422 and message in res.json()["detail"], res.text
    assert api.services.gallery().members() == []
    assert not list(Path("/etc").glob("evil.jpg"))


def test_not_a_zip_or_not_a_manifest_is_one_line(api) -> None:
    assert "not a zip file" in _post(api, b"PK not really").json()["detail"]
    files = {"manifest": ("members.txt", b"x", "text/plain"), "photos": ("p.zip", _zip({}), "application/zip")}
    res = api.post("/api/v1/member-imports", files=files, headers=api.admin)
    assert res.status_code == 422 and res.json()["detail"] == "manifest: a .csv or .jsonl file"


def test_only_an_admin_imports(api) -> None:
    files = {"manifest": ("m.csv", MANIFEST.encode(), "text/csv"), "photos": ("p.zip", _zip({}), "application/zip")}
    assert api.post("/api/v1/member-imports", files=files, headers=api.associate).status_code == 403
    assert api.get(f"/api/v1/member-imports/{'0' * 32}", headers=api.admin).status_code == 404
