"""A real local webhook receiver: uvicorn on port 0 in its own thread, scripted answers.

It records every request (headers and raw body) and answers from a script: a default status,
or a queue of ``Answer`` values taken one per request. A gate can hold requests open to test
concurrency caps.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import uvicorn
from starlette.requests import Request
from starlette.responses import Response


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay_s: float = 0.0
    #: Held open until set (from the test's thread).
    gate: threading.Event | None = None


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    #: The client's port: one per TCP connection.
    client_port: int | None = None


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        #: The answer given to each request, in the same order as ``requests``.
        self.answers: list[Answer] = []
        self.script: deque[Answer] = deque()
        self.default = Answer()
        self.decide: Callable[[Received], Answer] | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.in_flight_ids: set[str] = set()
        self.overlaps: list[str] = []
        self.gate: threading.Event | None = None
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _app(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()
        client = scope.get("client")
        received = Received(
            scope["path"],
            dict(request.headers),
            body,
            time.monotonic(),
            client[1] if client else None,
        )
        message_id = received.headers.get("webhook-id", "")
        with self._lock:
            self.requests.append(received)
            if message_id in self.in_flight_ids:
                self.overlaps.append(message_id)
            self.in_flight_ids.add(message_id)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.decide is not None:
                answer = self.decide(received)
            else:
                answer = self.script.popleft() if self.script else self.default
            self.answers.append(answer)
        try:
            gate = answer.gate or self.gate
            if gate is not None:
                # A threading.Event, set from the test's thread: waited for off the loop.
                await asyncio.to_thread(gate.wait)
            if answer.delay_s:
                await asyncio.sleep(answer.delay_s)
            response = Response(answer.body, status_code=answer.status, headers=answer.headers)
        finally:
            with self._lock:
                self.in_flight -= 1
                self.in_flight_ids.discard(message_id)
        await response(scope, receive, send)

    def start(self) -> None:
        config = uvicorn.Config(
            self._app, host="127.0.0.1", port=0, log_config=None, lifespan="off", interface="asgi3"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("receiver did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
