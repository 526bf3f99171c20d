"""The CLI boundary: a careless or hostile command line gets exit 2 and one line naming what is wrong.

Each row runs the real ``storelens`` command in a folder of its own, then checks: exit 2, the last
line of stderr names the problem, no traceback anywhere, and no file in the folder created, changed
or removed (a typo never creates an empty gallery, a bad purge erases nobody).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from storelens.api.books import StoreBooks
from storelens.config import default_config
from storelens.gallery.factory import open_gallery
from storelens.manifest import load_manifest
from tests.helpers.cli import run_cli
from tests.helpers.configs import write_toml
from tests.helpers.images import png_declaring


@pytest.fixture
def place(tmp_path: Path, video: Path, prepared_models_dir: Path) -> Path:
    """A folder with a gallery, configs good and bad, photos good and bad, a file where a folder belongs."""
    config = default_config()
    gallery = open_gallery(config, load_manifest().recogniser_of(config.models.pack), tmp_path / "gallery")
    gallery.close()
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "bomb.png").write_bytes(png_declaring(30_000, 30_000))
    (tmp_path / "labelled" / "p1").mkdir(parents=True)
    (tmp_path / "text.mp4").write_text("not a video")
    base = {"store": {"id": "s"}, "cameras": [{"id": "a", "source": str(video)}],
            "api": {"database_url": f"sqlite:///{tmp_path / 'events.sqlite'}"}}  # fmt: skip
    write_toml(tmp_path / "good.toml", base)
    StoreBooks(base["api"]["database_url"]).close()  # the box's database exists (api serve made it, every store)
    write_toml(tmp_path / "log-dir.toml", base | {"logging": {"file": str(tmp_path / "empty")}})
    write_toml(tmp_path / "tls-missing.toml", base | {"mqtt": {"url": "mqtts://127.0.0.1:8883",
                                                               "ca_file": str(tmp_path / "nope.pem")}})  # fmt: skip
    write_toml(tmp_path / "not-video.toml", base | {"cameras": [{"id": "a", "source": str(tmp_path / "text.mp4")}]})
    write_toml(tmp_path / "privacy.toml", base | {"privacy": {"controller": "Shop SA", "contact": "dpo@shop"}})
    write_toml(tmp_path / "hq.toml", {"database_url": f"sqlite:///{tmp_path / 'hq.sqlite'}"})
    (tmp_path / "short.secret").write_text("not 32 characters\n")
    write_toml(tmp_path / "hq-crm.toml", {"database_url": f"sqlite:///{tmp_path / 'hq.sqlite'}", "crm": {
        "webhook_url": "https://cdp.example/hook", "secret_file": str(tmp_path / "short.secret")}})  # fmt: skip
    (tmp_path / "binary.csv").write_bytes(b"transaction_id,store_id\n\xff\xfe\x00\x01\n")
    (tmp_path / "empty.pw").write_text("\n")
    two_passwords = {"url": "mqtt://127.0.0.1:1883", "username": "u", "password": "p", "password_file": "empty.pw"}
    write_toml(tmp_path / "two-passwords.toml", base | {"mqtt": two_passwords})
    no_password_file = {"url": "mqtt://127.0.0.1:1883", "username": "u", "password_file": "nope.pw"}
    write_toml(tmp_path / "no-password-file.toml", base | {"mqtt": no_password_file})
    line = {"start": [0, 400], "end": [1280, 400], "inside": [640, 700]}
    outside = {"start": [0, 400], "end": [2000, 400], "inside": [640, 700]}
    write_toml(tmp_path / "line-outside.toml", base | {"cameras": [
        {"id": "a", "source": str(video), "entry_line": outside, "frame_size": [1280, 720]}]})  # fmt: skip
    write_toml(tmp_path / "role-unknown.toml", base | {"cameras": [{"id": "a", "source": str(video), "role": "guard"}]})
    write_toml(tmp_path / "one-door-twice.toml", base | {"cameras": [
        {"id": "a", "source": str(video), "entry_line": line, "door": "main"},
        {"id": "b", "source": str(video), "entry_line": line, "door": "main"}]})  # fmt: skip
    tampered = tmp_path / "tampered-models"
    tampered.mkdir()
    for model in prepared_models_dir.glob("*.onnx"):
        (tampered / model.name).symlink_to(model)
    (tampered / "nanodet_m_416.onnx").unlink()
    (tampered / "nanodet_m_416.onnx").write_bytes(b"not the person detector")
    write_toml(tmp_path / "person-tampered.toml", base | {"cameras": [
        {"id": "a", "source": str(video), "entry_line": line}], "models": {"dir": str(tampered)}})  # fmt: skip
    return tmp_path


ROWS = [
    ("purge-negative", "gallery purge --gallery gallery --retention-days -1", "greater than or equal to 1"),
    ("purge-zero", "gallery purge --gallery gallery --retention-days 0", "greater than or equal to 1"),
    ("purge-huge", "gallery purge --gallery gallery --retention-days 99999999", "less than or equal to 36500"),
    ("purge-text", "gallery purge --gallery gallery --retention-days soon", "valid integer"),
    ("list-typo", "gallery list --gallery galery", "galery does not exist"),
    ("identify-typo", "gallery identify --gallery galery x.jpg", "galery does not exist"),
    ("remove-typo", "gallery remove --gallery galery --member-id M1", "galery does not exist"),
    ("list-not-a-gallery", "gallery list --gallery empty", "holds no gallery"),
    ("remove-bad-id", "gallery remove --gallery gallery --member-id ..", "--member-id"),
    ("enroll-bad-id", "gallery enroll --gallery g2 --member-id ../x --consent C bomb.png", "--member-id"),
    ("enroll-long-name", "gallery enroll --gallery g2 --member-id M1 --consent C --name " + "n" * 300 + " bomb.png",
     "--name"),
    ("enroll-bomb", "gallery enroll --gallery gallery --member-id M1 --consent C bomb.png", "pixels is more than"),
    ("detect-bomb", "faces detect bomb.png", "30000x30000 pixels"),
    ("detect-a-folder", "faces detect empty", "is a directory"),
    ("compare-one", "faces compare bomb.png", "at least two photos"),
    ("threshold-inf", "calibrate threshold --labelled labelled --target inf", "finite number"),
    ("threshold-nan", "calibrate threshold --labelled labelled --target nan", "finite number"),
    ("threshold-negative", "calibrate threshold --labelled labelled --target -1", "greater than 0"),
    ("threshold-above-1", "calibrate threshold --labelled labelled --target 1.5", "less than 1"),
    ("threshold-gallery-0", "calibrate threshold --labelled labelled --gallery-size 0", "greater than or equal to 1"),
    ("threshold-out-file", "calibrate threshold --labelled labelled --out a-file", "a-file is a file"),
    ("threshold-no-set", "calibrate threshold --labelled nope", "nope does not exist"),
    ("camera-at-negative", "calibrate camera --config good.toml --camera a --out s.png --at -5",
     "greater than or equal to 0"),
    ("camera-seconds-zero", "calibrate camera --config good.toml --camera a --out s.png --seconds 0",
     "greater than or equal to 1"),
    ("camera-seconds-nan", "calibrate camera --config good.toml --camera a --out s.png --seconds nan", "finite number"),
    ("degradation-no-set", "calibrate degradation --labelled nope", "nope does not exist"),
    ("degradation-out-file", "calibrate degradation --labelled labelled --out a-file", "a-file is a file"),
    ("degradation-one-person", "calibrate degradation --labelled labelled", "needs two people"),
    ("report-year-1", "report footfall --from 0001-01-01 --to 2026-01-01 --config good.toml", "between 2000 and 2100"),
    ("report-no-database", "report footfall --from 2026-01-01 --to 2026-01-02", "no event database"),
    ("report-out-folder", "report footfall --from 2026-01-01 --to 2026-01-02 --out empty", "is a directory"),
    ("report-chart-nowhere", "report footfall --from 2026-01-01 --to 2026-01-02 --chart nope/c.png",
     "does not exist"),
    ("serve-port", "api serve --config good.toml --port 70000", "less than or equal to 65535"),
    ("token-empty", "api token create --config good.toml --role admin --name=", "at least 1 character"),
    ("token-long", "api token create --config good.toml --role admin --name " + "n" * 10_000, "at most 128"),
    ("prepare-into-file", "models prepare --models-dir a-file", "a-file is a file"),
    ("demo-models-file", "demo --models-dir a-file", "a-file is a file"),
    ("bench-scales", "bench --part gallery --scales 50", "between 100 and 10000000"),
    ("bench-runs", "bench --runs 0", "whole number >= 1"),
    ("log-dir", "edge run --config log-dir.toml", "logging.file"),
    ("tls-missing", "edge run --config tls-missing.toml", "mqtt.ca_file"),
    ("camera-not-video", "edge run --config not-video.toml", "not a readable video"),
    ("notice-unwritable", "privacy notice --config privacy.toml --out /proc/sign.png", "/proc/"),
    ("notice-no-controller", "privacy notice --config good.toml --out sign.png", "privacy.controller is not set"),
    ("record-into-folder", "privacy record --config good.toml --out empty", "is a directory"),
    ("crm-a-folder", "crm import --config good.toml empty", "is a directory"),
    ("crm-not-csv", "crm import --config good.toml text.mp4", "expected a .csv or .jsonl file"),
    ("pos-binary", "pos import --config good.toml binary.csv", "not UTF-8"),
    ("health-backwards", "report health --config good.toml --from 2026-01-02 --to 2026-01-01", "--to must be after"),
    ("health-bad-store", "report health --config good.toml --from 2026-01-01 --to 2026-01-02 --store ../x", "--store"),
    ("bridge-bad-url", "deploy bridge --config good.toml --hq-url http://hq --password-file good.toml --out b",
     "expected mqtt://HOST:PORT"),
    ("bridge-empty-password", "deploy bridge --config good.toml --hq-url mqtt://hq:1883 --password-file empty.pw "
     "--out b", "empty"),
    ("hq-report-level", "hq report --config hq.toml --from 2026-01-01 --to 2026-01-02 --level planet",
     "invalid choice: 'planet'"),
    ("hq-report-backwards", "hq report --config hq.toml --from 2026-01-02 --to 2026-01-01", "to must be after"),
    ("hq-report-year", "hq report --config hq.toml --from 0001-01-01 --to 2026-01-01", "between 2000 and 2100"),
    ("hq-enroll-no-home", "hq enroll --config hq.toml --member-id M1 --consent C bomb.png",
     "--scope home needs --home-store"),
    ("hq-enroll-no-stores", "hq enroll --config hq.toml --member-id M1 --consent C --scope stores bomb.png",
     "--scope stores needs --stores"),
    ("hq-enroll-scope", "hq enroll --config hq.toml --member-id M1 --consent C --scope planet bomb.png",
     "invalid choice"),
    ("hq-enroll-bad-id", "hq enroll --config hq.toml --member-id ../x --consent C bomb.png", "--member-id"),
    ("hq-erase-no-database", "hq erase --config hq.toml --member-id M1", "no event database"),
    ("hq-erase-bad-id", "hq erase --config hq.toml --member-id ..", "--member-id"),
    ("hq-erasures-no-database", "hq erasures --config hq.toml", "no event database"),
    ("hq-token-role", "hq token create --config hq.toml --name x --role boss", "invalid choice"),
    ("hq-visits-bad-day", "hq visits --config hq.toml --day 2026-13-01", "expected a day such as"),
    ("hq-visits-old-day", "hq visits --config hq.toml --day 1999-12-31", "between 2000 and 2100"),
    ("hq-report-bad-store", "hq report --config hq.toml --from 2026-01-01 --to 2026-01-02 --store ../x", "--store"),
    ("hq-serve-short-secret", "hq serve --config hq-crm.toml", "shorter than 32 characters"),
    ("gallery-enroll-scope", "gallery enroll --gallery gallery --member-id M1 --consent C --scope planet bomb.png",
     "invalid choice"),
    ("demo-bad-mqtt", "demo --fast --keep d --mqtt http://broker", "--mqtt"),
    ("demo-keep-a-file", "demo --fast --keep a-file", "is a file"),
    ("bridge-install-into-a-file", "deploy bridge --config good.toml --hq-url mqtt://hq:1883 --password-file "
     "empty.pw --out b --install-into a-file", "a-file is a file"),
    ("mqtt-two-passwords", "privacy show --config two-passwords.toml", "set one of them"),
    ("mqtt-password-file-missing", "edge run --config no-password-file.toml", "mqtt.password_file"),
    ("line-outside-frame", "edge run --config line-outside.toml", "lies outside the 1280x720 frame"),
    ("role-unknown", "edge run --config role-unknown.toml", "role"),
    ("one-door-counted-twice", "edge run --config one-door-twice.toml", "both count door 'main'"),
    ("person-detector-tampered", "edge run --config person-tampered.toml", "nanodet_m_416"),
    ("no-command", "", "a command is required"),
    ("unknown-flag", "gallery list --gallery gallery --colour red", "unrecognized arguments"),
]  # fmt: skip


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file's size and modification time (folders' own times move when SQLite makes its journal)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file()}  # fmt: skip


@pytest.mark.parametrize(("name", "command", "named"), ROWS, ids=[r[0] for r in ROWS])
def test_bad_command_line(place: Path, prepared_models_dir: Path, name: str, command: str, named: str) -> None:
    before = snapshot(place)
    args = command.split(" ") if command else []
    env = {"STORELENS_MODELS_DIR": str(prepared_models_dir), "STORELENS_HOME": str(place / "home")}
    proc = run_cli(*args, cwd=place, env=env)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert lines and named in lines[-1] and "error" in lines[-1], lines[-3:]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert snapshot(place) == before, set(snapshot(place)) ^ set(before)
