"""A real HTTP receiver standing in for the chain's member platform: it fails, times out and answers twice on cue."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.helpers.services import free_port


class Receiver:
    """``POST /hook`` on a free loopback port; each request takes the next action of ``script`` (then ``ok``).

    Actions: ``fail`` answers 500 and keeps nothing; ``slow`` keeps the delivery but answers only after ``delay``
    seconds (the sender has given up by then, and sends it again); ``ok`` keeps it and answers 200.

    Attributes:
        received: every delivery kept, in order: (event kind, delivery id, body as JSON, signature valid).
        requests: how many requests arrived.
    """

    def __init__(self, secret: bytes, script: list[str] | None = None, delay: float = 2.0) -> None:
        self.secret, self.script, self.delay = secret, list(script or []), delay
        self.received: list[tuple[str, str, dict[str, Any], bool]] = []
        self.requests = 0
        self.lock = threading.Lock()
        self.port = free_port()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.requests += 1
                    action = receiver.script.pop(0) if receiver.script else "ok"
                if action == "fail":
                    self.send_response(500)
                    self.end_headers()
                    return
                timestamp = self.headers.get("X-StoreLens-Timestamp", "")
                expected = "sha256=" + hmac.new(receiver.secret, timestamp.encode() + b"." + body,
                                                hashlib.sha256).hexdigest()  # fmt: skip
                valid = hmac.compare_digest(expected, self.headers.get("X-StoreLens-Signature", ""))
                kind, key = self.headers.get("X-StoreLens-Event", ""), self.headers.get("X-StoreLens-Delivery", "")
                with receiver.lock:
                    receiver.received.append((kind, key, json.loads(body), valid))
                if action == "slow":
                    time.sleep(receiver.delay)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def deliveries(self, kind: str = "visit") -> dict[str, list[dict[str, Any]]]:
        """Bodies kept per delivery id (a delivery sent twice has two)."""
        out: dict[str, list[dict[str, Any]]] = {}
        with self.lock:
            for k, key, body, _ in self.received:
                if k == kind:
                    out.setdefault(key, []).append(body)
        return out
