"""No password, token or RTSP credential in any output: CLI, logs, status topic, config errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from storelens.cli.logs import setup_logging
from storelens.config import LoggingConfig
from storelens.edge.outbox import Outbox
from storelens.edge.publisher import CameraPublisher
from storelens.redact import redact
from tests.helpers.cli import run_cli
from tests.helpers.configs import write_toml
from tests.helpers.transport import MemoryBroker, MemoryTransport

RTSP_PASSWORD, MQTT_PASSWORD = "Sup3rS3cretCam", "MqttPa55word"


def config(tmp_path: Path, models: Path, same_ids: bool = False) -> Path:
    cams = [{"id": "a", "source": f"rtsp://admin:{RTSP_PASSWORD}@127.0.0.1:9/stream1"},
            {"id": "a" if same_ids else "b", "source": f"rtsp://viewer:{RTSP_PASSWORD}@127.0.0.1:9/s2"}]  # fmt: skip
    data = {"store": {"id": "s"}, "cameras": cams, "models": {"dir": str(models)},
            "mqtt": {"url": "mqtt://127.0.0.1:9", "username": "edge", "password": MQTT_PASSWORD},
            "api": {"database_url": f"sqlite:///{tmp_path / 'e.sqlite'}"},
            "gallery": {"dir": str(tmp_path / "g")}}  # fmt: skip
    return write_toml(tmp_path / "c.toml", data)


@pytest.mark.parametrize(
    ("args", "same_ids"),
    [
        (["--validate-config", "{cfg}"], True),  # two cameras share an id: the whole input used to be echoed
        (["doctor", "--config", "{cfg}"], False),
        (["doctor", "--json", "--config", "{cfg}"], False),
        (["calibrate", "camera", "--config", "{cfg}", "--camera", "a", "--out", "{tmp}/s.png"], False),
        (["-vv", "edge", "run", "--config", "{cfg}", "--camera", "a"], False),
    ],
    ids=["validate-config", "doctor", "doctor-json", "calibrate-camera", "edge-run"],
)
def test_no_secret_in_any_output(tmp_path: Path, prepared_models_dir: Path, args: list[str], same_ids: bool) -> None:
    cfg = config(tmp_path, prepared_models_dir, same_ids)
    argv = [a.format(cfg=cfg, tmp=tmp_path) for a in args]
    proc = run_cli(*argv, stop_after=10 if "edge" in argv else None)  # edge run retries a dead camera until stopped
    output = proc.stdout + proc.stderr
    assert output.strip(), "the command said nothing"
    assert RTSP_PASSWORD not in output and MQTT_PASSWORD not in output, output[-2000:]
    assert "Traceback" not in output


def test_status_topic_and_logs_never_carry_a_url_password(tmp_path: Path, caplog) -> None:
    broker = MemoryBroker()
    pub = CameraPublisher(Outbox(tmp_path / "o.sqlite"), MemoryTransport(broker, "edge"), "s", "c")
    pub.start()
    pub.set_status("reconnecting", detail=f"cannot open rtsp://admin:{RTSP_PASSWORD}@10.0.0.5/stream1")
    (status,) = broker.retained.values()
    assert RTSP_PASSWORD not in status.decode() and "rtsp://admin:***@10.0.0.5" in json.loads(status)["detail"]
    log_file = tmp_path / "log" / "edge.log"
    setup_logging(LoggingConfig(file=str(log_file), json_lines=True))
    logging.getLogger("storelens.test").warning("camera %s: lost %s", "a", f"rtsp://u:{RTSP_PASSWORD}@h/s")
    logging.getLogger("storelens.test").warning("connect with password=%s", MQTT_PASSWORD)
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_file.read_text()
    assert RTSP_PASSWORD not in text and MQTT_PASSWORD not in text and text.count("***") == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtsp://admin:pw@10.0.0.5:554/s", "rtsp://admin:***@10.0.0.5:554/s"),
        ("postgresql+psycopg://app:pw@db/x and mqtts://u:p@hq:8883", "postgresql+psycopg://app:***@db/x and mqtts://u:***@hq:8883"),
        ("rtsp://10.0.0.5/s", "rtsp://10.0.0.5/s"),
        ("password = 'hunter2'", "password = '***'"),
        ("token=abc123&x=1", "token=***&x=1"),
    ],
)  # fmt: skip
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_health_and_metrics_never_carry_a_secret(tmp_path: Path, face_models, video: Path) -> None:
    from fastapi.testclient import TestClient
    from prometheus_client import generate_latest

    from storelens.api.app import create_app
    from storelens.api.books import StoreBooks
    from storelens.apps.api import build_services
    from storelens.apps.edge import EdgeApp
    from storelens.config import Config

    config = Config.model_validate({
        "store": {"id": "s"}, "cameras": [{"id": "a", "source": f"rtsp://admin:{RTSP_PASSWORD}@127.0.0.1:9/s"}],
        "mqtt": {"url": "mqtt://127.0.0.1:9", "username": "edge", "password": MQTT_PASSWORD},
        "gallery": {"dir": str(tmp_path / "g")}, "edge": {"outbox": str(tmp_path / "o.sqlite")},
    })  # fmt: skip
    edge = EdgeApp(config, face_models)
    edge.loops["a"].failure = f"cannot open rtsp://admin:{RTSP_PASSWORD}@127.0.0.1:9/s"
    edge._refresh_metrics()
    shown = json.dumps(edge.health()[1]) + generate_latest(edge.metrics.registry).decode()
    edge.outbox.close()
    edge.gallery.close()
    services = build_services(config, StoreBooks(f"sqlite:///{tmp_path / 'e.sqlite'}"))
    shown += TestClient(create_app(services)).get("/api/v1/health").text
    services.close()
    assert "storelens_camera" in shown and '"status":"ok"' in shown  # both were really read
    assert RTSP_PASSWORD not in shown and MQTT_PASSWORD not in shown
    assert MQTT_PASSWORD not in repr(config) + str(config.model_dump())  # a SecretStr, even when dumped
