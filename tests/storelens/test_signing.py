"""Ed25519 envelopes and key rotation (storelens.signing, storelens.hq.keys): what verifies, what is learned,
and when an old key stops counting."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from storelens.clock import iso, utc_now
from storelens.errors import ConfigError, SignatureError
from storelens.hq.keys import HqKeys
from storelens.signing import Keyring, SigningKey

BODY = b'{"hello": "box"}'


def at(days: float) -> str:
    return iso(utc_now() + timedelta(days=days))


def test_a_signed_body_comes_back_only_for_its_purpose_and_key() -> None:
    key = SigningKey.generate()
    ring = Keyring([key.public])
    assert ring.verify("command", key.sign("command", BODY), at(0)) == BODY
    for payload in (key.sign("receipt", BODY), SigningKey.generate().sign("command", BODY), BODY, b"", b"[]"):
        with pytest.raises(SignatureError):
            ring.verify("command", payload, at(0))


def test_a_rotation_is_learned_from_the_first_command_and_the_old_key_lasts_the_overlap(tmp_path: Path) -> None:
    keys = HqKeys(tmp_path / "hq.json")
    old = keys.current
    box = Keyring([old.public], tmp_path / "box-keys.json")
    new, until = keys.rotate(timedelta(days=2))
    assert until[:10] == at(2)[:10] and keys.current.public == new.public
    assert box.verify("command", keys.sign_command(BODY), at(0)) == BODY  # learned from the endorsement
    assert box.verify("command", old.sign("command", BODY), at(1)) == BODY  # the old key, inside the overlap
    with pytest.raises(SignatureError, match="past its overlap"):
        box.verify("command", old.sign("command", BODY), at(3))
    again = Keyring([old.public], tmp_path / "box-keys.json")  # a restart keeps what was learned
    assert again.verify("command", new.sign("command", BODY), at(3)) == BODY
    with pytest.raises(SignatureError):
        again.verify("command", old.sign("command", BODY), at(3))


def test_a_box_away_for_two_rotations_follows_the_chain_of_endorsements(tmp_path: Path) -> None:
    keys = HqKeys(tmp_path / "hq.json")
    away = Keyring([keys.current.public])
    keys.rotate(timedelta(days=1))
    keys.rotate(timedelta(days=1))
    assert len(keys.endorsements) == 2
    assert away.verify("command", keys.sign_command(BODY), at(0)) == BODY
    other_process = HqKeys(tmp_path / "hq.json", create=False)  # another `hq serve` reads the same file
    assert other_process.current.public == keys.current.public


def test_an_endorsement_by_a_key_nobody_trusts_teaches_nothing(tmp_path: Path) -> None:
    trusted, intruder, intruders_new = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    ring = Keyring([trusted.public], tmp_path / "ring.json")
    endorsement = intruder.endorse(intruders_new.public, at(30))
    with pytest.raises(SignatureError, match="unknown"):
        ring.verify("command", intruders_new.sign("command", BODY, (endorsement,)), at(0))
    forged = trusted.endorse(intruders_new.public, at(30)).model_copy(update={"sig": endorsement.sig})
    with pytest.raises(SignatureError, match="does not verify"):
        ring.verify("command", intruders_new.sign("command", BODY, (forged,)), at(0))
    assert set(ring.keys) == {trusted.key_id} and not (tmp_path / "ring.json").exists()


@pytest.mark.parametrize("content", ["", "{}", '{"keys": ["not a pem"], "endorsements": []}', "\x00"])
def test_a_damaged_key_file_is_one_clear_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "hq.json").write_text(content)
    with pytest.raises(ConfigError, match=r"key file|private key"):
        HqKeys(tmp_path / "hq.json")
    (tmp_path / "ring.json").write_text(content or json.dumps({"keys": [{"public": "x"}]}))
    with pytest.raises(ConfigError, match="keyring"):
        Keyring([], tmp_path / "ring.json")


def test_key_files_are_the_owners_alone(tmp_path: Path) -> None:
    HqKeys(tmp_path / "hq.json")
    SigningKey.load(tmp_path / "box.key", create=True)
    assert all((tmp_path / n).stat().st_mode & 0o077 == 0 for n in ("hq.json", "box.key"))
    with pytest.raises(ConfigError, match="no such key file"):
        SigningKey.load(tmp_path / "missing.key")
