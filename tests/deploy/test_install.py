"""The store box install: systemd units checked by systemd-analyze, the install script, the example config."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from storelens.config import load_config, load_hq_config
from tests.helpers.cli import REPO

DEPLOY = REPO / "deploy"
UNITS = ("storelens-edge.service", "storelens-api.service")


def render(tmp_path: Path) -> Path:
    out = tmp_path / "units"
    out.mkdir()
    venv = Path(sys.executable).parent.parent
    args = [str(venv), str(tmp_path / "storelens.toml"), str(tmp_path / "data"), str(tmp_path / "logs"), str(REPO)]
    subprocess.run([str(DEPLOY / "render-units.sh"), *args, str(out)], check=True)
    return out


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    out = render(tmp_path)
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(out / u) for u in UNITS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    broken = out / "broken.service"
    broken.write_text((out / UNITS[0]).read_text().replace(str(Path(sys.executable).parent), "/nonexistent/bin"))
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(broken)], capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0 and "not executable" in proc.stderr  # the check does catch a bad unit


@pytest.mark.parametrize("unit", UNITS)
def test_units_restart_on_failure_and_start_at_boot(tmp_path: Path, unit: str) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(render(tmp_path) / unit)
    service = parser["Service"]
    assert service["Restart"] == "on-failure" and service["User"] == "storelens"
    assert parser["Install"]["WantedBy"] == "multi-user.target"
    assert "--validate-config" in service["ExecStartPre"]
    text = (tmp_path / "units" / unit).read_text()
    assert "@VENV@" not in text and "@DATA@" not in text and "@CONFIG@" not in text


def test_install_script_is_valid_bash_and_refuses_non_root() -> None:
    script = DEPLOY / "install.sh"
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    if (
        Path("/proc/self").exists()
        and subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() != "0"
    ):
        proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
        assert proc.returncode == 2 and "run as root" in proc.stderr


def test_example_config_is_valid() -> None:
    config = load_config(DEPLOY / "storelens.toml.example")
    assert config.store.id == "paris-01" and config.cameras[0].entry_line is not None
    assert config.logging.json_lines is True
    assert (config.store.locale, config.store.timezone) == ("fr_FR", "Europe/Paris")  # a Paris store reads French


def test_example_hq_config_is_valid() -> None:
    config = load_hq_config(DEPLOY / "hq.toml.example")
    assert [s.id for s in config.stores] == ["paris-01", "lyon-02"] and config.stores[0].timezone == "Europe/Paris"
    assert config.partition_by_month and config.privacy_rules().profile == "eu"
    assert (config.locale, config.timezone) == ("fr_FR", "Europe/Paris")


def test_install_script_refuses_a_bridge_file_that_is_not_one(tmp_path: Path) -> None:
    if subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() != "0":
        pytest.skip("install.sh runs as root")
    bogus = tmp_path / "bridge.conf"
    bogus.write_text("listener 1883\n")
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "SKIP_APT": "1", "BRIDGE": str(bogus)}
    proc = subprocess.run(["bash", str(DEPLOY / "install.sh")], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 2 and "is not a StoreLens bridge" in proc.stderr


@pytest.mark.parametrize("name", ["PREFIX", "CONF_DIR", "DATA", "UNITS"])
@pytest.mark.parametrize("value", ["/opt/x\nExecStartPre=/bin/sh", "/opt/a b", "relative/dir", "/opt/$(id)", "/opt/é"])
def test_install_script_refuses_a_path_it_cannot_write_as_is(tmp_path: Path, name: str, value: str) -> None:
    if subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() != "0":
        pytest.skip("install.sh runs as root")
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "SKIP_APT": "1", name: value, "BRIDGE": str(tmp_path / "none")}
    proc = subprocess.run(["bash", str(DEPLOY / "install.sh")], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 2 and proc.stderr.startswith(f"install.sh: {name}=") and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("value", ["hq", "postgresql,hq", "scrfd;id", "postgresql scrfd", "[demo]", ",", ",postgresql"])
def test_install_script_refuses_an_extra_a_box_does_not_take(tmp_path: Path, value: str) -> None:
    if subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() != "0":
        pytest.skip("install.sh runs as root")
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "SKIP_APT": "1", "EXTRAS": value, "BRIDGE": str(tmp_path / "none")}
    proc = subprocess.run(["bash", str(DEPLOY / "install.sh")], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("install.sh: EXTRAS=") and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1
