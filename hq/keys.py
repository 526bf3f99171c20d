"""Head office's signing keys: every member change it sends is signed with the newest; rotation with an overlap.

One file (mode 0600, ``signing_keys_file`` in ``hq.toml``) holds the keys, oldest first, and the endorsements
that lead from the first to the newest (each new key vouched for by the one before, which stays good on the
boxes until the endorsement's ``old_until``). Every command carries the endorsements, so a box that knows any
earlier key follows the rotation on the first command it gets. Several ``hq serve`` processes read the same
file and pick up a rotation on their next round.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

from storelens.atomic import write_file
from storelens.clock import iso, utc_now
from storelens.errors import ConfigError
from storelens.signing import MAX_ENDORSEMENTS, Endorsement, SigningKey

log = logging.getLogger(__name__)
MAX_OVERLAP = timedelta(days=365)


class HqKeys:
    """Head office's keys, read from ``path`` (made with a first key when missing and ``create``).

    Raises:
        ConfigError: the file is missing (and not ``create``) or is not head office's key file.
    """

    def __init__(self, path: Path, create: bool = True) -> None:
        self.path = path
        self._mtime = 0.0
        self.keys: list[SigningKey] = []
        self.endorsements: tuple[Endorsement, ...] = ()
        if not path.exists():
            if not create:
                raise ConfigError(f"{path}: no head-office key file (`storelens hq keys show` makes one)")
            self.keys = [SigningKey.generate()]
            self._save()
            log.info("made head office's signing key %s in %s", self.current.key_id, path)
        self.refresh()

    @property
    def current(self) -> SigningKey:
        """The newest key: what head office signs with."""
        return self.keys[-1]

    def refresh(self) -> None:
        """Read the file again when it changed (a rotation by another process)."""
        try:
            mtime = self.path.stat().st_mtime
            if mtime == self._mtime:
                return
            data = json.loads(self.path.read_text(encoding="utf-8"))
            keys = [SigningKey.from_pem(str(pem).encode(), str(self.path)) for pem in data["keys"]]
            endorsements = tuple(Endorsement.model_validate(e) for e in data["endorsements"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{self.path}: not head office's key file ({exc.__class__.__name__})") from exc
        if not keys:
            raise ConfigError(f"{self.path}: holds no key")
        self.keys, self.endorsements, self._mtime = keys, endorsements, mtime

    def _save(self) -> None:
        data = {
            "keys": [k.pem().decode() for k in self.keys],
            "endorsements": [e.model_dump() for e in self.endorsements],
        }
        write_file(self.path, json.dumps(data, indent=1) + "\n", 0o600)
        self._mtime = 0.0

    def rotate(self, overlap: timedelta) -> tuple[SigningKey, str]:
        """Add a new key, endorsed by the current one, which stays good for ``overlap``; the new key and that end.

        Raises:
            ConfigError: the overlap is negative or longer than a year.
        """
        if not timedelta(0) <= overlap <= MAX_OVERLAP:
            raise ConfigError(f"overlap of {overlap}: between 0 and {MAX_OVERLAP.days} days")
        new = SigningKey.generate()
        until = iso(utc_now() + overlap)
        self.endorsements = (*self.endorsements, self.current.endorse(new.public, until))[-MAX_ENDORSEMENTS:]
        self.keys = [*self.keys, new][-(MAX_ENDORSEMENTS + 1) :]
        self._save()
        self.refresh()
        return new, until

    def sign_command(self, body: bytes) -> bytes:
        """A member change's JSON, signed with the current key and carrying the endorsements."""
        return self.current.sign("command", body, self.endorsements)
