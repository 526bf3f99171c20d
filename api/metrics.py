"""The store API's counters for ``/metrics`` (Prometheus text): what head office's channel refused and applied."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

REFUSALS = ("signature", "payload", "store", "receipt_key")  # why a message on the command topic changed nothing


class ApiMetrics:
    """Counters of one API process, in a registry of its own (several APIs in one test process stay apart)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.chain_refused = Counter(
            "storelens_chain_messages_refused",
            "Messages on this store's head-office command topic that changed nothing, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.chain_changes = Counter(
            "storelens_chain_changes",
            "Signed head-office member changes answered, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        for reason in REFUSALS:
            self.chain_refused.labels(reason=reason)
        for outcome in ("applied", "already", "refused"):
            self.chain_changes.labels(outcome=outcome)

    def text(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
