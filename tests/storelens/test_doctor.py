"""``storelens doctor`` on a healthy box and on a broken one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.configs import write_toml
from tests.helpers.services import Mosquitto, free_port


def config(tmp_path: Path, source: str, mqtt: str, models: Path, **extra: object) -> Path:
    data = {
        "store": {"id": "paris-01"},
        "cameras": [{"id": "entrance", "source": source, "frame_size": [1280, 720]}],
        "models": {"dir": str(models)},
        "mqtt": {"url": mqtt},
        "gallery": {"dir": str(tmp_path / "gallery")},
        "edge": {"outbox": str(tmp_path / "outbox.sqlite")},
        "api": {"database_url": f"sqlite:///{tmp_path / 'events.sqlite'}"},
    } | extra
    return write_toml(tmp_path / "store.toml", data)


def checks(stdout: str) -> dict[str, dict]:
    return {row["check"]: row for row in map(json.loads, stdout.splitlines())}


def test_healthy_box(video, prepared_models_dir, tmp_path) -> None:
    broker = Mosquitto(tmp_path).start()
    try:
        proc = run_cli(
            "doctor", "--json", "--config", str(config(tmp_path, str(video), broker.url, prepared_models_dir))
        )
    finally:
        broker.stop()
    assert proc.returncode == 0, proc.stdout
    found = checks(proc.stdout)
    assert set(found) == {"models", "camera entrance", "broker", "bridge", "database", "gallery", "disk", "clock"}
    assert "no bridge to head office" in found["bridge"]["detail"]
    assert all(c["ok"] for c in found.values())
    assert "1280x720" in found["camera entrance"]["detail"]


def test_broken_box_says_what_to_do(tmp_path) -> None:
    cfg = config(tmp_path, f"rtsp://127.0.0.1:{free_port()}/cam", f"mqtt://127.0.0.1:{free_port()}", tmp_path / "none")
    proc = run_cli("doctor", "--config", str(cfg))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = {line.split()[1]: line for line in proc.stdout.splitlines()}
    assert lines["models"].startswith("FAIL") and "storelens models prepare" in lines["models"]
    assert lines["camera"].startswith("FAIL") and "user name and password" in lines["camera"]
    assert lines["broker"].startswith("FAIL") and "systemctl start mosquitto" in lines["broker"]
    assert lines["disk"].startswith("OK") and lines["clock"].startswith("OK")


# the operator's environment, words the broken box's report holds in it
LANGUAGE_CASES = [
    ({"LANG": "fr_FR.UTF-8"}, ["lancez `storelens models prepare", "identifiant et le mot de passe",
                               "démarrez le broker", "non vérifié : le broker du magasin ne répond pas"]),
    ({"LC_ALL": "zh_CN.UTF-8"}, ["运行 `storelens models prepare", "请检查摄像头地址", "请启动消息代理"]),
    ({"LANG": "C.UTF-8", "LC_ALL": "", "LANGUAGE": ""}, ["run `storelens models prepare", "user name and password"]),
]  # fmt: skip


@pytest.mark.parametrize(("env", "words"), LANGUAGE_CASES)
def test_the_installer_reads_the_doctor_in_their_language(tmp_path, env: dict[str, str], words: list[str]) -> None:
    cfg = config(tmp_path, f"rtsp://127.0.0.1:{free_port()}/cam", f"mqtt://127.0.0.1:{free_port()}", tmp_path / "none")
    proc = run_cli("doctor", "--config", str(cfg), env={"LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": ""} | env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    for phrase in words:
        assert phrase in proc.stdout, (phrase, proc.stdout)
    assert [line.split()[0] for line in proc.stdout.splitlines()][:2] == ["FAIL", "FAIL"]  # the verdicts stay
