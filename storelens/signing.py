"""Ed25519 signatures on head office's commands and on what the boxes send it (``cryptography``), and key rotation.

A signed message travels as an :class:`Envelope`: the message's own JSON as a string (``body``), the id of the
key that signed it, the signature, and the *endorsements* that lead from an older key to the signing one. The
signature covers a purpose tag and the body's bytes, so a receipt's signature is never a command's.

Head office rolls its key by endorsing the new key with the old one and a date (``old_until``) until which the
old key stays good: a box that knows the old key learns the new one from the first command that carries the
endorsement, and from then on accepts the old key only until that date (the *overlap*). A :class:`Keyring`
holds what a receiver trusts; what it learns is written to its file at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from storelens.atomic import write_file
from storelens.bounds import MAX_PAYLOAD_BYTES, Timestamp, check_ts
from storelens.errors import ConfigError, SignatureError, first_error

log = logging.getLogger(__name__)

PUBLIC_KEY = r"^[A-Za-z0-9+/]{43}=$"  # base64 of 32 bytes: an Ed25519 public key, raw
KEY_ID = r"^[0-9a-f]{16}$"
SIGNATURE = r"^[A-Za-z0-9+/]{86}==$"  # base64 of 64 bytes
MAX_ENDORSEMENTS = 8  # key rotations a receiver that was away may catch up on at once
MAX_KEYS = 16  # keys a keyring keeps (retired ones drop off the oldest first)
Purpose = Literal["command", "receipt", "report", "visit", "status", "endorsement"]

PublicKey = Annotated[str, Field(pattern=PUBLIC_KEY, description="Ed25519 public key, base64 of its 32 raw bytes")]
KeyId = Annotated[str, Field(pattern=KEY_ID)]
Signature = Annotated[str, Field(pattern=SIGNATURE)]


def _raw(public: str) -> bytes:
    try:
        raw = base64.b64decode(public, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"{public[:60]!r} is not a base64 public key") from exc
    if len(raw) != 32:
        raise SignatureError(f"a public key is 32 bytes, got {len(raw)}")
    return raw


def key_id(public: str) -> str:
    """A public key's short id: the first 8 bytes of the SHA-256 of its raw bytes, in hex."""
    return hashlib.sha256(_raw(public)).hexdigest()[:16]


def _endorsed(key: str, old_until: str) -> bytes:
    """What an endorsing key signs: the new key and the end of the old one's overlap."""
    return f"{key}\n{old_until}".encode()


def _message(purpose: Purpose, body: bytes) -> bytes:
    return b"storelens/" + purpose.encode() + b"/v1\0" + body


class Endorsement(BaseModel):
    """``by`` vouches for ``key``, and stays good itself until ``old_until``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: PublicKey
    by: KeyId
    old_until: Timestamp
    sig: Signature

    def text(self) -> bytes:
        """What the endorsing key signs."""
        return _endorsed(self.key, self.old_until)


class Envelope(BaseModel):
    """A signed message: its JSON (``body``), who signed it, the signature and the rotations leading to the key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = Field(default=1, ge=1, le=1, description="Envelope version")
    key_id: KeyId
    body: str = Field(max_length=MAX_PAYLOAD_BYTES)
    sig: Signature
    endorsements: tuple[Endorsement, ...] = Field(default=(), max_length=MAX_ENDORSEMENTS)


class SigningKey:
    """An Ed25519 private key and its public half.

    Args:
        private: the ``cryptography`` private key.
    """

    def __init__(self, private: object) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        if not isinstance(private, Ed25519PrivateKey):
            raise ConfigError("not an Ed25519 private key")
        self._private = private

    @classmethod
    def generate(cls) -> SigningKey:
        """A new random key."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes, where: str) -> SigningKey:
        """A key from PKCS#8 PEM.

        Raises:
            ConfigError: not an Ed25519 private key (``where`` names the file).
        """
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            return cls(load_pem_private_key(pem, password=None))
        except (ValueError, TypeError, ConfigError) as exc:
            raise ConfigError(f"{where}: not an Ed25519 private key in PEM") from exc

    @classmethod
    def load(cls, path: Path, create: bool = False) -> SigningKey:
        """The key in ``path`` (PEM); made and written there (mode 0600) when missing and ``create``.

        Raises:
            ConfigError: missing (and not ``create``), unreadable, or not an Ed25519 key.
        """
        if not path.exists():
            if not create:
                raise ConfigError(f"{path}: no such key file")
            key = cls.generate()
            path.parent.mkdir(parents=True, exist_ok=True)
            write_file(path, key.pem(), 0o600)
            log.info("made a signing key %s in %s", key.key_id, path)
            return key
        try:
            return cls.from_pem(path.read_bytes(), str(path))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the key: {exc.strerror}") from exc

    def pem(self) -> bytes:
        """PKCS#8 PEM, unencrypted (the file's mode protects it)."""
        from cryptography.hazmat.primitives import serialization

        return self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def public(self) -> str:
        """The public key, base64 of its 32 raw bytes."""
        from cryptography.hazmat.primitives import serialization

        raw = self._private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    @property
    def key_id(self) -> str:
        """:func:`key_id` of the public key."""
        return key_id(self.public)

    def raw_sign(self, purpose: Purpose, body: bytes) -> str:
        """The base64 signature of ``body`` for ``purpose``."""
        return base64.b64encode(self._private.sign(_message(purpose, body))).decode()

    def sign(self, purpose: Purpose, body: bytes, endorsements: tuple[Endorsement, ...] = ()) -> bytes:
        """``body`` (a message's JSON) in a signed :class:`Envelope`, as JSON bytes."""
        envelope = Envelope(
            key_id=self.key_id,
            body=body.decode(),
            sig=self.raw_sign(purpose, body),
            endorsements=endorsements[-MAX_ENDORSEMENTS:],
        )
        return envelope.model_dump_json(exclude_defaults=False).encode()

    def endorse(self, new_public: str, old_until: str) -> Endorsement:
        """Vouch for ``new_public``; this key stays good until ``old_until``."""
        signature = self.raw_sign("endorsement", _endorsed(new_public, check_ts(old_until)))
        return Endorsement(key=new_public, by=self.key_id, old_until=old_until, sig=signature)


def verify_with(public: str, purpose: Purpose, body: bytes, signature: str) -> bool:
    """True when ``signature`` is ``public``'s over ``body`` for ``purpose``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(_raw(public)).verify(base64.b64decode(signature), _message(purpose, body))
    except (InvalidSignature, SignatureError, ValueError, binascii.Error):
        return False
    return True


def open_envelope(payload: bytes) -> Envelope:
    """Parse an envelope (size bounded before the JSON parser sees it).

    Raises:
        SignatureError: too large or not an envelope.
    """
    if len(payload) > MAX_PAYLOAD_BYTES + 4096:
        raise SignatureError(f"{len(payload)} bytes: larger than a signed message may be")
    try:
        return Envelope.model_validate_json(payload)
    except ValidationError as exc:
        where, why = first_error(exc)
        raise SignatureError(f"not a signed message ({where}: {why})") from exc


@dataclass
class Trusted:
    """A key a receiver trusts, until ``until`` (UTC ISO timestamp) or for good (None)."""

    public: str
    until: str | None = None


class Keyring:
    """The keys one receiver trusts: those configured, and those it learned from endorsements (kept in ``path``).

    Args:
        configured: public keys from the configuration (trusted until an endorsement retires them).
        path: where learned keys and retirements are written (JSON); None keeps them in memory.
    """

    def __init__(self, configured: list[str], path: Path | None = None) -> None:
        self.path = path
        self.keys: dict[str, Trusted] = {key_id(k): Trusted(k) for k in configured}
        if path is not None and path.exists():
            self._read(path)

    def _read(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            for item in data["keys"][-MAX_KEYS:]:
                public, until = str(item["public"]), item.get("until")
                kid = key_id(public)
                if until is not None:
                    check_ts(str(until))
                known = self.keys.get(kid)
                if known is None or until is not None:
                    self.keys[kid] = Trusted(public, None if until is None else str(until))
        except (OSError, ValueError, KeyError, TypeError, SignatureError) as exc:
            raise ConfigError(f"{path}: not a StoreLens keyring ({exc.__class__.__name__})") from exc

    def _save(self) -> None:
        if self.path is None:
            return
        items = [{"public": t.public, "until": t.until} for t in self.keys.values()][-MAX_KEYS:]
        write_file(self.path, json.dumps({"keys": items}, indent=1) + "\n", 0o640)

    def add(self, public: str) -> str:
        """Trust ``public`` for good (an installer's step: ``deploy bridge --hq-public-key``); its key id."""
        kid = key_id(public)
        self.keys[kid] = Trusted(public)
        self._save()
        return kid

    def valid(self, kid: str, now: str) -> Trusted | None:
        """The key of id ``kid`` if it is trusted at ``now``."""
        found = self.keys.get(kid)
        if found is None or (found.until is not None and found.until <= now):
            return None
        return found

    def verify(self, purpose: Purpose, payload: bytes, now: str) -> bytes:
        """The body of a signed message, when a key trusted at ``now`` signed it (learning endorsed keys first).

        Raises:
            SignatureError: not an envelope, an endorsement or the signature does not verify, or the key is
                unknown or past its overlap.
        """
        envelope = open_envelope(payload)
        learned = False
        for endorsement in envelope.endorsements:
            new_id = key_id(endorsement.key)
            if new_id in self.keys and self.keys[new_id].until is None:
                continue  # known already
            by = self.valid(endorsement.by, now)
            if by is None:
                continue  # by a key this receiver does not trust (or no longer): ignored, the signature decides
            if not verify_with(by.public, "endorsement", endorsement.text(), endorsement.sig):
                raise SignatureError(f"an endorsement of key {new_id} by {endorsement.by} does not verify")
            self.keys[new_id] = Trusted(endorsement.key)
            by.until = min(by.until or endorsement.old_until, endorsement.old_until)
            learned = True
            log.info("learned key %s (endorsed by %s, good until %s)", new_id, endorsement.by, endorsement.old_until)
        if learned:
            self._save()
        signer = self.valid(envelope.key_id, now)
        if signer is None:
            state = "past its overlap" if envelope.key_id in self.keys else "unknown"
            raise SignatureError(f"signed by key {envelope.key_id}, {state} here")
        body = envelope.body.encode()
        if not verify_with(signer.public, purpose, body, envelope.sig):
            raise SignatureError(f"the signature by key {envelope.key_id} does not verify")
        return body
