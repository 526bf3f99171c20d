"""What a box sends head office, proven: each message signed by the key registered for its store's box.

Receipts, member reports, visits and camera statuses all arrive on ``storelens/v1/{store}/_box/...`` (the central
broker's ACL lets only that store's bridge write there); head office acts on one only when it verifies against the
key ``storelens hq box-key`` registered for that store, for that purpose, and names the store of its topic. An
unsigned message, one signed by another store's key, or one that speaks for another store changes nothing.
"""

from __future__ import annotations

import logging
from typing import TypeVar

from pydantic import BaseModel

from storelens.clock import now_iso
from storelens.edge_events import parse_payload
from storelens.errors import PayloadError, SignatureError
from storelens.hq.registry import ChainMembers
from storelens.signing import Keyring, Purpose

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


class BoxKeys:
    """The boxes' registered keys (read again from the registry when a store's is not known yet).

    Args:
        members: the member registry, which holds the keys.
    """

    def __init__(self, members: ChainMembers) -> None:
        self.members = members
        self._keys: dict[str, Keyring] = {}
        self.refused = 0

    def keyring(self, store_id: str) -> Keyring | None:
        """The key a store's box signs with; None when none is registered.

        Raises:
            SQLAlchemyError: the registry is away (the message is to be checked again later).
        """
        if store_id not in self._keys:
            self._keys = {s: Keyring([k]) for s, k in self.members.registered_keys().items()}
        return self._keys.get(store_id)

    def open(self, topic: str, payload: bytes, purpose: Purpose, model: type[M]) -> M:
        """A box's message, checked.

        The checks: its size, the signature of its topic's store's box for ``purpose``, the model, and the store
        it names (``store_id``) against its topic's.

        Raises:
            SignatureError: unsigned, not signed by that store's registered key, or no key registered.
            PayloadError: not the model, or a message of another store under this store's topic.
            SQLAlchemyError: the registry is away.
        """
        parts = topic.split("/")
        store_id = parts[2] if len(parts) > 2 else ""
        keyring = self.keyring(store_id)
        if keyring is None:
            raise SignatureError(f"store {store_id[:64]} has no registered box key (storelens hq box-key)")
        message = parse_payload(model, keyring.verify(purpose, payload, now_iso()))
        if getattr(message, "store_id", None) != store_id:
            raise PayloadError("store_id", f"a {purpose} of another store under store {store_id}'s topic")
        return message

    def refuse(self, topic: str, why: Exception) -> None:
        """Log and count a refused message (one line: a hostile payload never fills the log)."""
        self.refused += 1
        log.warning("refused a message on %s: %s", topic[:200], (str(why).splitlines() or [repr(why)])[0][:300])
