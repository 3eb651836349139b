"""A real hookhub on uvicorn, port 0, in a thread of the test process (end-to-end tests)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI

from hookhub.realtime import transport
from hookhub.realtime.hub import Hub

START_DEADLINE_S = 10.0
#: Tests shorten the wait for a closing handshake a stalled peer never answers.
CLOSE_TIMEOUT_S = 3.0


class HubServer:
    """``frame_writer=True`` runs uvicorn with the transport's options, as ``hookhub serve``
    does; False runs plain uvicorn, so the hub takes its ASGI fallback path."""

    def __init__(self, app: FastAPI, *, frame_writer: bool) -> None:
        options: dict[str, Any] = {}
        if frame_writer:
            options = transport.uvicorn_options(close_timeout_s=CLOSE_TIMEOUT_S)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_config=None, ws_max_size=1 << 20, **options
        )
        self.app = app
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.port = 0

    @property
    def hub(self) -> Hub:
        hub: Hub = self.app.state.services.realtime.hub
        return hub

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + START_DEADLINE_S
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("hookhub did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


async def until(condition: Any, what: str, timeout_s: float = 10.0) -> None:
    """Poll a condition on another thread's state; fail naming ``what``."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 (state owned by the server's thread)
            await asyncio.sleep(0.01)
    _ = what
