"""The live feed: a WebSocket that replays what a client missed, then pushes arrivals and "taken" updates.

Browsers cannot set headers on a WebSocket, so the first message carries the token:
``{"token": "...", "since_seq": N}``. The token is checked again every half second while the feed is open:
a revoked or expired token closes it (1008, "token revoked"), and the page signs the device out, so a lost
iPad stops receiving member cards within a second. A client that has sent too many wrong tokens is refused
as every other entry point refuses it (close code 4429, with the seconds to wait).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.websockets import WebSocketState

from storelens.api.auth import principal_of
from storelens.api.services import Services
from storelens.bounds import Seq
from storelens.errors import first_error

router = APIRouter(tags=["live"])
HELLO_SECONDS = 10
RECHECK_SECONDS = 0.5  # how often an open feed's token is checked again (revoked: closed within a second)
TOO_MANY = 4429  # a close code of the application range (4000-4999): too many wrong tokens, wait


class Hello(BaseModel):
    """The first message of a live client."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(max_length=200)
    since_seq: Seq = 0


async def _refuse(ws: WebSocket, reason: str) -> None:
    """Close with 1008 and a short reason (a WebSocket close reason holds at most 123 bytes)."""
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason=reason.encode()[:120].decode(errors="ignore"))


async def _hello(ws: WebSocket) -> Hello | None:
    """The client's hello, or None after closing with 1008 (or when the client left first)."""
    try:
        message = await asyncio.wait_for(ws.receive(), timeout=HELLO_SECONDS)
    except TimeoutError:
        await _refuse(ws, f"expected {{token, since_seq}} within {HELLO_SECONDS} s")
        return None
    if message["type"] == "websocket.disconnect":
        return None
    text = message.get("text")
    if text is None:
        await _refuse(ws, "expected a text frame: {token, since_seq}")
        return None
    try:
        return Hello.model_validate_json(text)
    except ValidationError as exc:
        await _refuse(ws, "hello: " + ": ".join(first_error(exc, whole="message")))
        return None


@router.websocket("/live")
async def live(ws: WebSocket) -> None:
    """Authenticate, replay today's arrivals after ``since_seq``, then stream; a client that leaves is quiet."""
    svc: Services = ws.app.state.services
    if svc.hub.loop is None:  # started without the app's lifespan (e.g. a bare test client)
        svc.hub.attach(asyncio.get_running_loop())
    await ws.accept()
    hello = await _hello(ws)
    if hello is None:
        return
    client = ws.client.host if ws.client else "unknown"
    wait = svc.failed_tokens.blocked_for(client)
    if wait > 0:  # the same brute-force block as every request that takes a token
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await ws.close(code=TOO_MANY, reason=f"too many wrong tokens; try again in {int(wait) + 1} s")
        return
    who = principal_of(svc.books.tokens, hello.token)
    if who is None:
        svc.failed_tokens.failed(client, "unknown token on the live feed")
        await _refuse(ws, "unknown token")
        return
    queue = svc.hub.connect()
    gone: asyncio.Future[Any] | None = None
    nxt: asyncio.Future[Any] | None = None
    try:
        for e in svc.todays_arrivals(hello.since_seq):
            svc.log_read(e.payload["member_id"], who, "card", "arrival")
            await ws.send_json(svc.arrival_message(e.seq, e.payload))
        await ws.send_json({"kind": "ready", "user": who.name})
        gone = asyncio.ensure_future(ws.receive())  # completes when the client goes away (or says anything)
        nxt = asyncio.ensure_future(queue.get())
        while True:
            done, _ = await asyncio.wait({nxt, gone}, timeout=RECHECK_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            if gone in done:
                break
            if await asyncio.to_thread(principal_of, svc.books.tokens, hello.token) is None:  # revoked while open
                await _refuse(ws, "token revoked")
                break
            if nxt not in done:
                continue
            message = nxt.result()
            nxt = asyncio.ensure_future(queue.get())
            if message.get("kind") == "arrival":  # the card reached this iPad: on the record
                svc.log_read(message["event"]["member_id"], who, "card", "arrival")
            await ws.send_json(message)
    except (WebSocketDisconnect, RuntimeError, OSError):  # the client went away mid-send: nothing to report
        pass
    finally:
        svc.hub.disconnect(queue)
        for task in (nxt, gone):
            if task is not None and not task.done():
                task.cancel()
        if ws.client_state == WebSocketState.CONNECTED and ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
                await ws.close()
