"""The live feed: a WebSocket that replays what a client missed, then pushes arrivals and "taken" updates.

Browsers cannot set headers on a WebSocket, so the first message carries the token:
``{"token": "...", "since_seq": N}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from storelens.api.auth import principal_of
from storelens.api.services import Services

router = APIRouter(tags=["live"])


@router.websocket("/live")
async def live(ws: WebSocket) -> None:
    """Authenticate, replay today's arrivals after ``since_seq``, then stream."""
    svc: Services = ws.app.state.services
    if svc.hub.loop is None:  # started without the app's lifespan (e.g. a bare test client)
        svc.hub.attach(asyncio.get_running_loop())
    await ws.accept()
    try:
        hello = json.loads(await asyncio.wait_for(ws.receive_text(), timeout=10))
    except (TimeoutError, ValueError, WebSocketDisconnect):
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="expected {token, since_seq}")
        return
    who = principal_of(svc.store, str(hello.get("token", "")))
    if who is None:
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="unknown token")
        return
    queue = svc.hub.connect()
    try:
        since = int(hello.get("since_seq") or 0)
        for e in svc.todays_arrivals(since):
            await ws.send_json(svc.arrival_message(e.seq, e.payload))
        await ws.send_json({"kind": "ready", "user": who.name})
        gone = asyncio.ensure_future(ws.receive())  # completes when the client goes away
        while True:
            nxt = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({nxt, gone}, return_when=asyncio.FIRST_COMPLETED)
            if gone in done:
                nxt.cancel()
                break
            await ws.send_json(nxt.result())
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        svc.hub.disconnect(queue)
        with contextlib.suppress(RuntimeError):
            await ws.close()
