"""Every file the deploy commands write is built from checked values: a newline, a space, a quote, ``;``,
``$()`` or a non-ASCII character in any value that reaches a broker configuration, an ACL, a password entry,
a script or a systemd unit is refused with exit 2, one line naming it, and no file written."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from storelens.cli.main import main
from storelens.transport.broker_files import rabbitmq_script
from tests.helpers.cli import REPO
from tests.helpers.configs import write_toml

HOSTILE = {
    "newline": "x\ntopic readwrite #",
    "space": "x topic",
    "quote": "x'\"",
    "semicolon": "x;touch p",
    "subshell": "$(touch p)",
    "non-ascii": "xé",
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own refusal of a flag
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def store_toml(tmp_path: Path) -> Path:
    return write_toml(tmp_path / "store.toml", {"store": {"id": "store-a"}, "cameras": [{"id": "door", "source": "0"}],
                                                "gallery": {"dir": str(tmp_path / "gallery")},
                                                "chain": {"key_file": str(tmp_path / "box.key")}})  # fmt: skip


def bridge_argv(tmp_path: Path, **over: str) -> list[str]:
    secret = tmp_path / "bridge.pw"
    if not secret.exists():
        secret.write_text("s3cret-bridge-pw\n")
    argv = {"--config": str(store_toml(tmp_path)), "--hq-url": "mqtts://hq.example:8883",
            "--password-file": str(secret), "--out": str(tmp_path / "out")}  # fmt: skip
    argv.update(over)
    return ["deploy", "bridge", *[x for kv in argv.items() for x in kv]]


def nothing_written(tmp_path: Path) -> bool:
    return not (tmp_path / "out").exists() and not (tmp_path / "box.key").exists()


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize(
    ("flag", "placed"),
    [
        ("--username", lambda tmp, v: v),
        ("--hq-url", lambda tmp, v: f"mqtts://hq{v}:8883"),
        ("--ca-file", lambda tmp, v: str(tmp / f"ca{v}.pem")),
        ("--hq-public-key", lambda tmp, v: v),
        ("--password-file", lambda tmp, v: (tmp / "bad.pw").write_text(f"pass{v}word\n") and str(tmp / "bad.pw")),
    ],
)
def test_a_hostile_bridge_value_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, placed: Callable[[Path, str], str], value: str
) -> None:
    given = placed(tmp_path, value)
    if flag == "--ca-file":
        Path(given).write_text("a CA")  # it exists: its name is what is wrong
    code, err = run(capsys, *bridge_argv(tmp_path, **{flag: given}))
    lines = [line for line in err.splitlines() if "error" in line]
    assert code == 2 and len(lines) == 1 and (flag in lines[0] or "argument" in lines[0]), err
    assert "Traceback" not in err and nothing_written(tmp_path)


def test_a_password_file_of_two_lines_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "two.pw").write_text("s3cret-bridge-pw\ntopic readwrite #\n")
    code, err = run(capsys, *bridge_argv(tmp_path, **{"--password-file": str(tmp_path / "two.pw")}))
    assert code == 2 and "--password-file" in err and "topic readwrite" not in err and nothing_written(tmp_path)


def test_good_values_write_files_that_hold_only_their_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run(capsys, *bridge_argv(tmp_path, **{"--username": "bridge.store-a@chain", "--hq-broker": "rabbitmq"}))
    assert code == 0
    script = (tmp_path / "out" / "hq-rabbitmq-store-a.sh").read_text()
    for line in script.splitlines():
        if line.lstrip().startswith("rabbitmqctl"):
            words = shlex.split(line.rstrip("|").removesuffix("2>/dev/null ||"))
            assert words[0] == "rabbitmqctl" and "bridge.store-a@chain" in words
    assert (tmp_path / "box.key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("user", ["x;touch p", "$(id)", "a b", "x'y"])
def test_the_rabbitmq_script_quotes_every_word(tmp_path: Path, user: str) -> None:
    script = tmp_path / "s.sh"
    script.write_text(rabbitmq_script("store-a", user).replace("rabbitmqctl", "printf '%s\\n'"))
    (tmp_path / "pw").write_text("pw\n")
    out = subprocess.run(["sh", str(script), str(tmp_path / "pw")], capture_output=True, text=True, cwd=tmp_path)
    assert user in out.stdout.splitlines() and not (tmp_path / "p").exists()


HQ_TOML = '[mqtt]\nusername = "{user}"\n[[stores]]\nid = "paris-01"\n'


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("flag", ["--out", "--cert-file", "--data-dir", "mqtt.username", "--broker-user"])
def test_a_hostile_central_broker_value_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    hq = tmp_path / "hq.toml"
    user = value if flag == "mqtt.username" else "storelens-hq"
    hq.write_text(HQ_TOML.format(user=user.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")))
    out = tmp_path / "central"
    argv = {"--config": str(hq), "--out": str(out), "--cert-file": "/etc/ssl/c.pem", "--key-file": "/etc/ssl/k.pem"}
    if flag.startswith("--"):
        argv[flag] = f"/srv/x{value}" if flag != "--broker-user" else value
        if flag == "--out":
            argv[flag] = str(tmp_path / f"central{value}")
    code, err = run(capsys, "deploy", "hq-broker", *[x for kv in argv.items() for x in kv])
    lines = [line for line in err.splitlines() if "error" in line]
    assert code == 2 and len(lines) == 1, err
    assert not out.exists() and not (tmp_path / f"central{value}").exists()


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_render_units_refuses_a_path_it_cannot_write_as_is(tmp_path: Path, value: str) -> None:
    out = tmp_path / "units"
    out.mkdir()
    args = ["/opt/storelens/venv", f"/etc/storelens/s{value}.toml", "/var/lib/storelens", "/var/log/storelens",
            "/opt/storelens", str(out)]  # fmt: skip
    proc = subprocess.run([str(REPO / "deploy" / "render-units.sh"), *args], capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "CONFIG" in proc.stderr
    assert list(out.iterdir()) == []
