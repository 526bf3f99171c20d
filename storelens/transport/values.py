"""The values that go into files the deploy commands write (broker configurations, ACLs, scripts).

Each is checked by one strict rule here, so that no flag, file or config value can add a line or a shell word.

Broker configuration files do not quote values and end a value at the line's end; a shell script's words are
quoted with :func:`shlex.quote` on top of these checks. A bad value is refused with exit 2 and one line,
before any file is written.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from storelens.errors import ConfigError

USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")  # a broker user: no space, quote or shell character
# what `deploy hq-broker` makes fits; never a leading "-", which rabbitmqctl (and other tools) read as an option
PASSWORD = re.compile(r"[A-Za-z0-9_.~@%+=,:/][A-Za-z0-9_.~@%+=,:/-]{7,255}")
SAFE_PATH = re.compile(r"/[A-Za-z0-9_.,@%+=:/-]+")  # an absolute path a config line or unit holds as it is


def user_name(text: str) -> str:
    """A broker user name (argparse ``type``): letters, digits and ``_.@-``, 1 to 64, not beginning with one."""
    if not USER_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text[:80]!r}: a user name is 1-64 letters, digits and _.@- only")
    return text


def config_path(text: str) -> str:
    """An absolute path of letters, digits and ``_.,@%+=:/-`` (argparse ``type``): broker configs do not quote."""
    if not SAFE_PATH.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text[:120]!r}: expected an absolute path of letters, digits and _.,@%+=:/- (no spaces, quotes, "
            "'#', ';', '$', backslashes or control characters)"
        )
    return text


def existing_config_path(text: str) -> Path:
    """A file that exists, as an absolute path that passes :func:`config_path`."""
    path = Path(config_path(str(Path(text).absolute())))
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text} does not exist")
    return path


def mqtt_url(text: str) -> str:
    """``mqtt://HOST[:PORT]`` or ``mqtts://HOST[:PORT]`` by ``mqtt.url``'s own rule (argparse ``type``)."""
    from storelens.config import MqttConfig

    try:
        return MqttConfig(url=text).url
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text[:120]!r}: expected mqtt://HOST:PORT or mqtts://HOST:PORT") from exc


def public_key(text: str) -> str:
    """An Ed25519 public key, base64 of its 32 bytes (argparse ``type``): what ``storelens hq keys show`` prints."""
    from storelens.signing import PUBLIC_KEY

    if not re.fullmatch(PUBLIC_KEY, text):
        raise argparse.ArgumentTypeError(f"{text[:80]!r}: expected a public key, base64 of 32 bytes (44 characters)")
    return text


def broker_password(path: Path) -> str:
    """The password in ``path`` (its first line), fit for a broker's configuration line.

    Raises:
        ConfigError: unreadable, empty, more than one line, or characters a config line cannot hold as they are.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--password-file {path}: cannot read it ({exc.__class__.__name__})") from exc
    lines = text.splitlines()
    password = lines[0].strip() if lines else ""
    if not password:
        raise ConfigError(f"--password-file {path}: empty (the bridge logs in with it)")
    if len([line for line in lines if line.strip()]) > 1 or not PASSWORD.fullmatch(password):
        raise ConfigError(
            f"--password-file {path}: one line of 8-256 letters, digits and _.~@%+=,:/- (not first) expected "
            "(what `storelens deploy hq-broker` makes)"
        )
    return password
