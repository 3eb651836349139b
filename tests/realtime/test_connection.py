"""One connection's send paths, and the fan-out's push to many, with stand-in sockets."""

from __future__ import annotations

import pytest

from hookhub.realtime.auth import Grant
from hookhub.realtime.connection import Connection, ConnectionState, Outgoing, push_to_all
from hookhub.realtime.protocol import CloseCode, InboundBudget
from hookhub.realtime.transport import encode_text_frame

from .support import FakeSocket, FakeWriter

GRANT = Grant(user=None, patterns=("broadcast",))
MAX_QUEUE_BYTES = 1000


def opened(writer: FakeWriter | None = None) -> tuple[Connection, FakeSocket]:
    socket = FakeSocket(writer)
    connection = Connection(
        "c",
        socket,  # type: ignore[arg-type]
        GRANT,
        max_queue_bytes=MAX_QUEUE_BYTES,
        budget=InboundBudget(10, 10, 0.0),
        now=0.0,
    )
    connection.start()
    return connection, socket


async def test_push_to_all_writes_one_frame_to_every_writer() -> None:
    writers = [FakeWriter() for _ in range(3)]
    connections = [opened(writer)[0] for writer in writers]
    out = Outgoing.of({"type": "t"})
    push_to_all(connections, out)
    assert out.frame == encode_text_frame(b'{"type":"t"}')
    # The same bytes object for everyone: encoded once, never per receiver.
    assert all(writer.frames == [out.frame] for writer in writers)
    assert all(writer.frames[0] is out.frame for writer in writers)


async def test_push_to_all_closes_a_lagging_writer_and_skips_closed_ones() -> None:
    ok, lagging, gone = FakeWriter(), FakeWriter(), FakeWriter()
    first, second, third = opened(ok)[0], opened(lagging)[0], opened(gone)[0]
    lagging.buffered = MAX_QUEUE_BYTES + 1
    third.disconnected()
    push_to_all([first, second, third], Outgoing.of({"type": "t"}))
    assert len(ok.frames) == 1
    assert lagging.frames == [] and lagging.closed == (4008, "slow consumer")
    assert second.close_code is CloseCode.SLOW_CONSUMER
    assert second.state is ConnectionState.CLOSING
    assert gone.frames == [] and gone.closed is None
    # Closed connections take nothing more, on either path.
    push_to_all([second], Outgoing.of({"type": "u"}))
    second.push(Outgoing.of({"type": "u"}))
    assert lagging.frames == []


async def test_push_to_all_queues_for_connections_without_a_writer() -> None:
    connection, socket = opened()
    push_to_all([connection], Outgoing.of({"type": "t"}))
    assert await socket.wait_for(1) == [{"type": "t"}]
    connection.close(CloseCode.GOING_AWAY)
    await connection.shutdown()


async def test_a_message_made_before_the_first_writer_is_framed_when_pushed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Outgoing, "_encode_frame", None)
    early = Outgoing.of({"type": "ping"})
    assert early.frame is None
    writer = FakeWriter()
    connection, _ = opened(writer)
    # The first connection with a writer makes every later message come with its frame.
    assert Outgoing.of({"type": "later"}).frame is not None
    connection.push(early)
    push_to_all([connection], Outgoing(early.data))
    assert writer.frames == [encode_text_frame(b'{"type":"ping"}')] * 2
    assert early.frame == writer.frames[0]
