"""The Python servers that bench/realtime.py measures, each run in its own process.

``python -m bench.realtime_servers <kind>`` serves on a free port on 127.0.0.1 and prints the
port. Every kind takes WebSocket clients on ``/ws`` (Socket.IO: its own path) and broadcasts
the body of ``POST /publish`` to all of them, answering once the broadcast has been handed over:

- ``writer``: a minimal ASGI app with hookhub's transport: the body is framed once
  (``encode_text_frame``) and written to every connection's ``hookhub.frame_writer``, with the
  same buffered-bytes check a hub makes before each write;
- ``send_text``: the same app broadcasting the usual way, ``await websocket.send_text`` on each
  connection in turn (Starlette's WebSocket, as a FastAPI endpoint would);
- ``socketio``: python-socketio's ASGI app on uvicorn, ``await sio.emit(...)``.

hookhub itself runs from bench/realtime.py through ``hookhub.app.create_app``.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import uvicorn
from starlette.websockets import WebSocket, WebSocketDisconnect

from hookhub.realtime.transport import FRAME_WRITER_EXTENSION, FrameWriter, encode_text_frame

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
#: The per-connection bound a hub keeps (the issue's default): checked, never reached here.
MAX_BUFFERED_BYTES = 1024 * 1024
SLOW_CONSUMER_CODE = 4008
LISTEN_BACKLOG = 4096


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def answer(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Broadcaster:
    """The shared shape of ``writer`` and ``send_text``: a set of connections, a publish route."""

    def __init__(self) -> None:
        self.sockets: dict[WebSocket, FrameWriter | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            websocket = WebSocket(scope, receive, send)  # type: ignore[arg-type]
            await websocket.accept()
            self.sockets[websocket] = scope["extensions"].get(FRAME_WRITER_EXTENSION)
            try:
                while True:
                    await websocket.receive_text()
            except WebSocketDisconnect:
                pass
            finally:
                self.sockets.pop(websocket, None)
        elif scope["type"] == "http":
            body = await read_body(receive)
            if scope["path"] != "/publish":
                await answer(send, 404, b"{}")
                return
            sent = await self.broadcast(body)
            await answer(send, 200, orjson.dumps({"sent": sent}))

    async def broadcast(self, body: bytes) -> int:
        raise NotImplementedError


class WriterBroadcaster(Broadcaster):
    async def broadcast(self, body: bytes) -> int:
        frame = encode_text_frame(body)
        sent = 0
        for writer in list(self.sockets.values()):
            assert writer is not None, "run with hookhub's transport"
            if writer.buffered_bytes() > MAX_BUFFERED_BYTES:
                writer.close(SLOW_CONSUMER_CODE, "slow consumer")
                continue
            writer.write(frame)
            sent += 1
        return sent


class SendTextBroadcaster(Broadcaster):
    async def broadcast(self, body: bytes) -> int:
        text = body.decode()
        sent = 0
        for websocket in list(self.sockets):
            try:
                await websocket.send_text(text)
            except (RuntimeError, OSError):
                continue
            sent += 1
        return sent


def socketio_app() -> Any:
    import socketio

    sio = socketio.AsyncServer(async_mode="asgi", logger=False, engineio_logger=False)

    async def publish(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        await sio.emit("bench", orjson.loads(body))
        await answer(send, 200, b"{}")

    return socketio.ASGIApp(sio, other_asgi_app=publish)


def serve(kind: str) -> None:
    """Serve ``kind``; ``send_text@wsproto`` (or ``@websockets``) runs that app on another of
    uvicorn's WebSocket protocols instead of hookhub's, to compare them."""
    from hookhub.realtime.transport import uvicorn_options

    kind, _, base_protocol = kind.partition("@")
    apps: dict[str, Callable[[], Any]] = {
        "writer": WriterBroadcaster,
        "send_text": SendTextBroadcaster,
        "socketio": socketio_app,
    }
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    config = uvicorn.Config(
        apps[kind](),
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        lifespan="off",
        interface="asgi3",
        backlog=LISTEN_BACKLOG,
        **(
            {"ws": base_protocol, "ws_per_message_deflate": False}
            if base_protocol
            else uvicorn_options()
            if kind != "socketio"
            else {}
        ),
    )
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    serve(sys.argv[1])
