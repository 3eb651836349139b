"""The hub: connections, channels, users, presence, and fan-out across hookhub processes.

How a message travels. :meth:`Hub.publish` (the broadcast API, user pushes) puts an envelope on
the bus topic :data:`REALTIME_TOPIC`; events reach every process on :data:`EVENTS_TOPIC`. Every
process, the publishing one included, takes each message from the bus, appends it to the
channel's history (once per cluster: appends are keyed by the message id) and writes it to its
own subscribers. So a publish on any process reaches the subscribers of all of them, through the
Redis bus when it is configured, and offsets agree everywhere.

An event reaches the channel named by its ``channel``, else the channel named after its type
(``ticket.created``), as ``{"type", "payload", "timestamp", "id", "channel"}`` (seed 004).
Connections with the admin token or an API token receive every message (the admin feed of seed
004); others receive the channels they subscribed to, the broadcast channel when their token
allows it, and their own user channel ``user:<id>`` (seed 001).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from starlette.websockets import WebSocket

from hookhub.bus import EVENTS_TOPIC, Bus, Subscription
from hookhub.errors import BusError
from hookhub.events import Event, new_id
from hookhub.realtime import protocol
from hookhub.realtime.auth import Grant
from hookhub.realtime.channels import ChannelState, Publication, event_message
from hookhub.realtime.connection import (
    DEFAULT_MAX_QUEUE_BYTES,
    Connection,
    Outgoing,
    push_to_all,
)
from hookhub.realtime.history import Entry, History
from hookhub.realtime.presence import Presence
from hookhub.realtime.protocol import (
    CloseCode,
    Command,
    ErrorCode,
    InboundBudget,
    Ping,
    Pong,
    Position,
    ProtocolError,
    Register,
    Subscribe,
    Unregister,
    Unsubscribe,
    user_channel,
)

log = structlog.get_logger(__name__)

#: The bus topic of messages published to a channel through the hub.
REALTIME_TOPIC = "realtime"
DEFAULT_BROADCAST_CHANNEL = "broadcast"
DEFAULT_PING_INTERVAL_S = 25.0
#: Seed 004 clients ping every 30 s: two missed pings and a margin.
DEFAULT_IDLE_TIMEOUT_S = 75.0
DEFAULT_MAX_SUBSCRIPTIONS = 128
DEFAULT_RATE_PER_S = 50.0
DEFAULT_RATE_BURST = 100
#: How often the keepalive sweep runs at most (more often for shorter intervals).
TICK_INTERVAL_S = 1.0

Monotonic = Callable[[], float]
#: Encoded once for every keepalive sent.
_PING = Outgoing.of(protocol.PING)


@dataclass(frozen=True)
class HubConfig:
    broadcast_channel: str = DEFAULT_BROADCAST_CHANNEL
    max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES
    max_message_bytes: int = protocol.DEFAULT_MAX_MESSAGE_BYTES
    ping_interval_s: float = DEFAULT_PING_INTERVAL_S
    #: 0 turns the idle timeout off.
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    max_subscriptions: int = DEFAULT_MAX_SUBSCRIPTIONS
    rate_per_s: float = DEFAULT_RATE_PER_S
    rate_burst: int = DEFAULT_RATE_BURST


class Hub:
    def __init__(
        self,
        *,
        bus: Bus,
        history: History,
        monotonic: Monotonic,
        config: HubConfig | None = None,
        node_id: str | None = None,
    ) -> None:
        self.config = config or HubConfig()
        self.node_id = node_id or secrets.token_hex(4)
        self.connections: dict[str, Connection] = {}
        #: Messages written to connections (one per receiver), for /metrics.
        self.delivered = 0
        self.slow_consumers = 0
        self._bus = bus
        self._history = history
        self._monotonic = monotonic
        self._channels: dict[str, ChannelState] = {}
        self._firehose: set[Connection] = set()
        self._ids = itertools.count(1)
        self._subscriptions: list[Subscription] = []
        self._ticker: asyncio.Task[None] | None = None
        #: Channels whose subscribers changed since :meth:`take_dirty` was last called.
        self._dirty: set[str] = set()

    # Lifecycle.

    async def start(self) -> None:
        """Listen on the bus and start the keepalive sweep."""
        self._subscriptions = [
            await self._bus.subscribe(EVENTS_TOPIC, self._on_event),
            await self._bus.subscribe(REALTIME_TOPIC, self._on_publish),
        ]
        self._ticker = asyncio.create_task(self._tick_forever(), name="hookhub-hub-ticker")

    async def stop(self) -> None:
        """Close every connection (1001) and stop listening. The bus stays open."""
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        for subscription in self._subscriptions:
            await subscription.close()
        self._subscriptions = []
        for connection in list(self.connections.values()):
            connection.close(CloseCode.GOING_AWAY)
        await self._history.close()

    # Publishing.

    async def publish(self, channel: str, message: dict[str, Any]) -> str:
        """Send ``message`` to ``channel``'s subscribers on every process; its message id.

        Raises :class:`~hookhub.errors.BusError` when the bus cannot take it, after handing
        the message to this process's own subscribers.
        """
        message_id = new_id()
        envelope = {"id": message_id, "channel": channel, "message": message}
        try:
            await self._bus.publish(REALTIME_TOPIC, orjson.dumps(envelope))
        except BusError as exc:
            # Redis is away: this process's own clients still get it; the others cannot.
            await self.deliver(channel, message, message_id=message_id)
            raise BusError("bus unreachable: delivered to this node's clients only") from exc
        return message_id

    async def _on_publish(self, _topic: str, data: bytes) -> None:
        envelope = orjson.loads(data)
        await self.deliver(envelope["channel"], envelope["message"], message_id=envelope["id"])

    async def _on_event(self, _topic: str, data: bytes) -> None:
        await self.deliver_event(Event.from_json(data))

    async def deliver_event(self, event: Event) -> None:
        """Deliver an event to this process's subscribers of its channel."""
        channel, message = event_message(event)
        await self.deliver(channel, message, message_id=event.id)

    async def deliver(self, channel: str, message: dict[str, Any], *, message_id: str) -> None:
        """Keep ``message`` in the channel's history and write it to this process's receivers."""
        plain = Outgoing.of(message)
        position: Position | None = None
        try:
            position = await self._history.append(channel, plain.data, message_id=message_id)
        except BusError:
            # Delivered anyway (pushes are at-most-once); a client recovering later may miss it.
            log.warning("hub.history_unreachable", channel=channel, message_id=message_id)
        self.fan_out(Publication(channel, message, plain, position))

    def fan_out(self, publication: Publication) -> None:
        """Write one publication to every local receiver; never waits on any of them."""
        state = self._channels.get(publication.channel)
        plain = publication.plain
        count = 0
        if state is not None:
            push_to_all(state.plain, plain)
            count += len(state.plain)
            if state.positioned:
                push_to_all(state.positioned, publication.positioned())
                count += len(state.positioned)
            for waiting in state.pending.values():
                waiting.append(publication)
        for connection in self._firehose:
            if state is None or connection not in state:
                connection.push(plain)
                count += 1
        self.delivered += count

    # Connections.

    async def serve(self, websocket: WebSocket, grant: Grant) -> None:
        """Run one accepted connection until it closes, from either side."""
        now = self._monotonic()
        connection = Connection(
            f"{self.node_id}-{next(self._ids)}",
            websocket,
            grant,
            max_queue_bytes=self.config.max_queue_bytes,
            budget=InboundBudget(self.config.rate_per_s, self.config.rate_burst, now),
            now=now,
        )
        connection.start()
        connection.send(protocol.CONNECTED)  # first, before anything published can be
        self._open(connection)
        log.info("ws.connected", connection_id=connection.id, user=grant.user, admin=grant.admin)
        try:
            if connection.has_writer:
                # Closing through the frame writer ends ``receive`` with a disconnect, so the
                # loop can run right here: no extra task per connection.
                await self._read(connection)
            else:
                reader = asyncio.create_task(
                    self._read(connection), name=f"hookhub-ws-read:{connection.id}"
                )
                try:
                    await connection.wait_closed()
                finally:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reader
        finally:
            self._forget(connection)
            if connection.close_code is CloseCode.SLOW_CONSUMER:
                self.slow_consumers += 1
            await connection.shutdown()
            code = connection.close_code
            log.info(
                "ws.disconnected",
                connection_id=connection.id,
                by="server" if code is not None else "client",
                code=int(code) if code is not None else None,
            )

    def _open(self, connection: Connection) -> None:
        self.connections[connection.id] = connection
        grant = connection.grant
        if grant.admin:
            self._firehose.add(connection)
            return
        if grant.allows(self.config.broadcast_channel):
            self._join(connection, self.config.broadcast_channel, positioned=False)
        if grant.user is not None:
            self._join(connection, user_channel(grant.user), positioned=False)

    def _forget(self, connection: Connection) -> None:
        self.connections.pop(connection.id, None)
        self._firehose.discard(connection)
        for channel in list(connection.channels):
            self._leave(connection, channel)

    def _join(self, connection: Connection, channel: str, *, positioned: bool) -> ChannelState:
        state = self._channels.setdefault(channel, ChannelState())
        state.plain.discard(connection)
        state.positioned.discard(connection)
        (state.positioned if positioned else state.plain).add(connection)
        connection.channels.add(channel)
        self._dirty.add(channel)
        return state

    def _leave(self, connection: Connection, channel: str) -> None:
        connection.channels.discard(channel)
        self._dirty.add(channel)
        state = self._channels.get(channel)
        if state is None:
            return
        state.plain.discard(connection)
        state.positioned.discard(connection)
        state.pending.pop(connection, None)
        if not state:
            del self._channels[channel]

    async def _read(self, connection: Connection) -> None:
        websocket = connection.websocket
        try:
            while connection.open:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                now = self._monotonic()
                connection.last_heard = now
                if not connection.budget.take(now):
                    connection.close(CloseCode.TOO_MANY_MESSAGES)
                    return
                text = message.get("text")
                if text is None:
                    size = len(message.get("bytes") or b"")
                    if size > self.config.max_message_bytes:
                        connection.close(CloseCode.MESSAGE_TOO_BIG)
                        return
                    connection.send(
                        protocol.error(ErrorCode.BINARY_FRAME, "send JSON in text frames")
                    )
                    continue
                try:
                    protocol.check_size(text, self.config.max_message_bytes)
                except protocol.MessageTooBig:
                    connection.close(CloseCode.MESSAGE_TOO_BIG)
                    return
                try:
                    await self.handle(connection, protocol.parse(text))
                except ProtocolError as exc:
                    connection.send(exc.reply())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ws.read_failed", connection_id=connection.id)
        finally:
            connection.disconnected()

    async def handle(self, connection: Connection, command: Command) -> None:
        """Carry out one client command; :class:`ProtocolError` for the client's mistakes."""
        match command:
            case Ping():
                connection.send(protocol.PONG)
            case Pong():
                pass
            case Subscribe():
                await self._subscribe(connection, command)
            case Unsubscribe(channel=channel):
                if channel in connection.channels and channel != self._own_channel(connection):
                    self._leave(connection, channel)
                connection.send(protocol.unsubscribed(channel))
            case Register(user=user):
                self._register(connection, user)
            case Unregister():
                self._unregister(connection)

    def _own_channel(self, connection: Connection) -> str | None:
        # The user channel of a token's own user stays: the token was issued for it.
        user = connection.grant.user
        return user_channel(user) if user is not None else None

    def _check_can_join(self, connection: Connection, channel: str) -> None:
        if not connection.grant.allows(channel):
            raise ProtocolError(
                ErrorCode.FORBIDDEN, "this token does not allow that channel", channel=channel
            )
        limit = self.config.max_subscriptions
        if channel not in connection.channels and len(connection.channels) >= limit:
            raise ProtocolError(
                ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                f"at most {limit} subscriptions per connection",
                channel=channel,
            )

    async def _subscribe(self, connection: Connection, command: Subscribe) -> None:
        channel = command.channel
        self._check_can_join(connection, channel)
        state = self._join(connection, channel, positioned=command.recover)
        # Messages arriving while history is read wait here, so none is lost or sent twice.
        state.plain.discard(connection)
        state.positioned.discard(connection)
        waiting: list[Publication] = []
        state.pending[connection] = waiting
        entries: list[Entry] = []
        recovered: bool | None = None
        try:
            if command.since is None:
                position = await self._history.position(channel)
            else:
                recovery = await self._history.recover(channel, command.since)
                position, entries, recovered = (
                    recovery.position,
                    recovery.entries,
                    recovery.recovered,
                )
        except BusError:
            log.warning("hub.history_unreachable", channel=channel, connection_id=connection.id)
            position = None
            recovered = False if command.since is not None else None
        if state.pending.get(connection) is not waiting or not connection.open:
            return  # unsubscribed or closed meanwhile
        del state.pending[connection]
        (state.positioned if command.recover else state.plain).add(connection)
        connection.send(protocol.subscribed(channel, position, recovered=recovered))
        last = position.offset if position is not None else -1
        for entry in entries:
            message = orjson.loads(entry.data)
            connection.send(protocol.positioned(message, channel, entry.offset))
            last = max(last, entry.offset)
        for publication in waiting:
            offset = publication.offset
            if offset is not None and offset <= last:
                continue  # already in what history returned
            connection.push(publication.positioned() if command.recover else publication.plain)

    def _register(self, connection: Connection, user: str) -> None:
        channel = user_channel(user)
        if not connection.grant.allows(channel):
            raise ProtocolError(ErrorCode.FORBIDDEN, "this token does not allow that user")
        previous = connection.registered
        if previous is not None and previous != user:
            self._unregister(connection, reply=False)
        if channel not in connection.channels:
            self._check_can_join(connection, channel)
            self._join(connection, channel, positioned=False)
        connection.registered = user
        self._dirty.update(connection.channels)  # its user changed in all of them
        connection.send(protocol.registered(user))

    def _unregister(self, connection: Connection, *, reply: bool = True) -> None:
        user = connection.registered
        if user is None:
            raise ProtocolError(
                ErrorCode.NOT_REGISTERED, "no user is registered on this connection"
            )
        connection.registered = None
        self._dirty.update(connection.channels)
        if user != connection.grant.user:
            self._leave(connection, user_channel(user))
        if reply:
            connection.send(protocol.unregistered(user))

    # Keepalive.

    def tick(self) -> None:
        """Ping connections due for it; close those silent past the idle timeout."""
        now = self._monotonic()
        idle_timeout_s = self.config.idle_timeout_s
        ping_interval_s = self.config.ping_interval_s
        for connection in list(self.connections.values()):
            if idle_timeout_s and now - connection.last_heard > idle_timeout_s:
                connection.close(CloseCode.IDLE_TIMEOUT)
            elif now - connection.last_pinged >= ping_interval_s:
                connection.last_pinged = now
                connection.push(_PING)

    @property
    def _tick_interval_s(self) -> float:
        # Twice per interval, so a ping or a close is never much later than configured.
        periods = [self.config.ping_interval_s, self.config.idle_timeout_s or TICK_INTERVAL_S]
        return min(TICK_INTERVAL_S, *(period / 2 for period in periods))

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick_interval_s)
            try:
                self.tick()
                sweep = getattr(self._history, "sweep", None)
                if sweep is not None:
                    sweep()
            except Exception:
                log.exception("hub.tick_failed")

    # Introspection.

    def presence(self, channel: str) -> Presence:
        """Who is connected to ``channel`` on this process."""
        state = self._channels.get(channel)
        if state is None:
            return Presence(channel, 0, {})
        members = [*state.plain, *state.positioned, *state.pending]
        users = Counter(member.user for member in members if member.user is not None)
        return Presence(channel, len(members), dict(users))

    def take_dirty(self) -> set[str]:
        """The channels whose presence changed since the last call."""
        dirty, self._dirty = self._dirty, set()
        return dirty

    def mark_dirty(self, channels: set[str]) -> None:
        self._dirty.update(channels)

    @property
    def channel_names(self) -> list[str]:
        return list(self._channels)

    @property
    def channel_count(self) -> int:
        return len(self._channels)

    def channels(self) -> list[Presence]:
        return [self.presence(channel) for channel in sorted(self._channels)]
