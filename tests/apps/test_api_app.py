"""``storelens api serve`` as a service: HTTPS when configured, one per store, a clean stop on SIGTERM."""

from __future__ import annotations

import signal
import ssl
import subprocess
from pathlib import Path

import httpx2 as httpx

from tests.helpers.cli import REPO, STORELENS, run_cli
from tests.helpers.configs import write_toml
from tests.helpers.services import free_port, wait_port


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "api.crt", tmp_path / "api.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)  # fmt: skip
    return cert, key


def config(tmp_path: Path, broker_url: str, port: int, tls: tuple[Path, Path] | None = None) -> Path:
    api = {"port": port, "database_url": f"sqlite:///{tmp_path / 'events.sqlite'}", "photos_dir": str(tmp_path / "p")}
    if tls:
        api |= {"tls_cert_file": str(tls[0]), "tls_key_file": str(tls[1])}
    data = {"store": {"id": f"store-{port}"}, "cameras": [{"id": "c", "source": "x"}], "mqtt": {"url": broker_url},
            "api": api, "gallery": {"dir": str(tmp_path / "g")}}  # fmt: skip
    return write_toml(tmp_path / "api.toml", data)


def serve(cfg: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([STORELENS, "api", "serve", "--config", str(cfg)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def test_https_one_instance_per_store_and_a_clean_sigterm(tmp_path: Path, broker) -> None:
    port = free_port()
    cert, key = self_signed(tmp_path)
    cfg = config(tmp_path, broker.url, port, (cert, key))
    first = serve(cfg)
    try:
        wait_port(port, 60)
        health = httpx.get(
            f"https://127.0.0.1:{port}/api/v1/health", verify=ssl.create_default_context(cafile=cert), timeout=10
        )
        assert health.status_code == 200 and health.headers["x-content-type-options"] == "nosniff"
        second = run_cli("api", "serve", "--config", str(cfg), "--port", str(free_port()))
        assert second.returncode == 2 and "another `storelens api serve` for store" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err[-2000:]  # systemd sees a clean stop, not 143
    assert "Traceback" not in err
    restarted = serve(cfg)  # the lock went with the process
    try:
        wait_port(port, 60)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.communicate(timeout=60)
    assert restarted.returncode == 0


def test_tls_files_that_are_missing_are_one_line(tmp_path: Path, broker) -> None:
    cfg = config(tmp_path, broker.url, free_port(), (tmp_path / "nope.crt", tmp_path / "nope.key"))
    proc = run_cli("api", "serve", "--config", str(cfg))
    assert proc.returncode == 2 and "api.tls_cert_file" in proc.stderr and "Traceback" not in proc.stderr
