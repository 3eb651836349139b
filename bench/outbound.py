"""Outgoing webhooks end to end: publish, store, claim, sign, POST, record, on each store.

Each scenario is measured three ways in the same run, against one local receiver:

- a plain client loop: hookhub's HTTP client for deliveries (``make_sender``: httpx2's
  transport, which the dispatcher sends through), ``outbound_max_in_flight`` requests at once,
  POSTing the same bodies to the same URLs; no store, no signing;
- hookhub on SQLite and on PostgreSQL: ``Services`` with the dispatcher running in this process
  on the in-memory bus, on default settings (such as the 1 s poll for due retries, which is a
  claim on the store each time); events go in through ``EventPublisher.publish`` and come out
  as signed deliveries. As in a deployment, deliveries of events published beside a running
  dispatcher are handed to it as they are stored, and concurrent publishes share a commit.

Both run on uvloop, the loop ``hookhub serve`` and ``hookhub dispatch`` run on, with the
garbage collector tuned as a started ``hookhub serve`` tunes it (``hookhub.heap.settle``).
Each webhook is created with ``max_concurrency`` at its maximum, so ``outbound_max_in_flight``
is the cap for hookhub as it is for the plain loop, and as many publishers run at once as
there are requests in flight (``HOOKHUB_BENCH_PUBLISHERS`` sets another count).

The receiver runs in its own process (asyncio with uvloop and httptools, so it is not the
bottleneck). It answers 200 at once and notes, per request, ``time.time()`` at receipt, the
``webhook-id`` header and the body; every body carries the event's sequence number, and latency
is receipt time minus the moment the event was published (for the plain loop: the moment the
request was queued). The rate runs from the first publish to the last receipt.

The machine is shared and noisy: the plain loop alone has run anywhere from 968 to 2,928
requests/s on it, and its rate drifts within a minute. So each scenario runs in ``ROUNDS``
rounds of SQLite, then PostgreSQL, with a plain loop before the first round and after every
round: each hookhub run is set against the mean of the two plain loops on either side of it,
which cancels a steady drift. The table gives the median of those ratios (each round's beside
it; for the plain loop, each run's rate against the median plain run), with the figures of
each shape's median round: by rate when events go in as fast as possible, by p99 when paced.

``HOOKHUB_BENCH_SCALE=0.1`` shrinks every scenario for a quick run; the figures in
BENCHMARKS.md are from the full sizes (scale 1). ``HOOKHUB_BENCH_ROUNDS`` sets another number
of rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvloop
from rich.console import Console
from rich.table import Table

from bench.databases import POSTGRES_URL, create_database, drop_database
from hookhub import heap
from hookhub.clock import utc_now
from hookhub.config import Settings
from hookhub.logging import configure_logging
from hookhub.outbound.dispatcher import make_sender
from hookhub.outbound.models import MAX_CONCURRENCY, WebhookCreate
from hookhub.services import Services
from hookhub.signing import seed_body
from hookhub.store.engine import Database
from hookhub.store.migrate import upgrade

SCALE = float(os.environ.get("HOOKHUB_BENCH_SCALE", "1"))
#: Scenario sizes at scale 1, as the issue asks.
ONE_ENDPOINT_EVENTS = 10_000
FANOUT_EVENTS = 1_000
FANOUT_ENDPOINTS = 10
PACED_RATE_PER_S = 200.0
PACED_DURATION_S = 10.0
#: Publishers at once when events go in as fast as possible: as many as requests in flight, the
#: plain loop's concurrency. Each publish waits for its commit, so with fewer publishers than
#: that, the publishers, not the dispatcher, set hookhub's pace (16 held it to about 16-23 sends
#: in flight). ``HOOKHUB_BENCH_PUBLISHERS`` sets another count.
PUBLISH_CONCURRENCY = int(
    os.environ.get("HOOKHUB_BENCH_PUBLISHERS", str(Settings().outbound_max_in_flight))
)
#: Rounds of each scenario, each framed by plain loops (see the module's docstring).
ROUNDS = int(os.environ.get("HOOKHUB_BENCH_ROUNDS", "5"))
DRAIN_TIMEOUT_S = 180.0
#: The issue's goals: at least this share of the plain loop's rate, and this p99 when paced.
GOAL_RATIO_TO_PLAIN = 0.6
GOAL_PACED_P99_MS = 50.0
RECEIVER_START_TIMEOUT_S = 30.0
WARM_UP_REQUESTS = 500
EVENT_TYPE = "ticket.created"
PAYLOAD = {"ticket_id": 123, "title": "Printer on fire", "tags": ["hardware", "urgent"]}
CONTROL_PATH = "/_bench"
HOOK_PATH = "/hook"
REPO_ROOT = Path(__file__).resolve().parent.parent


def _scaled(count: float) -> int:
    return max(1, round(count * SCALE))


@dataclass(frozen=True)
class Scenario:
    name: str
    events: int
    endpoints: int
    rate_per_s: float | None  # None: as fast as possible

    @property
    def deliveries(self) -> int:
        return self.events * self.endpoints


SCENARIOS = (
    Scenario(
        f"{_scaled(ONE_ENDPOINT_EVENTS):,} ev → 1 hook",
        _scaled(ONE_ENDPOINT_EVENTS),
        1,
        None,
    ),
    Scenario(
        f"{_scaled(FANOUT_EVENTS):,} ev → {FANOUT_ENDPOINTS} hooks",
        _scaled(FANOUT_EVENTS),
        FANOUT_ENDPOINTS,
        None,
    ),
    Scenario(
        f"{PACED_RATE_PER_S:.0f} ev/s x {PACED_DURATION_S * SCALE:g} s → 1 hook",
        _scaled(PACED_RATE_PER_S * PACED_DURATION_S),
        1,
        PACED_RATE_PER_S,
    ),
)


@dataclass
class Result:
    scenario: Scenario
    shape: str
    received: int
    duplicates: int
    deliveries_per_s: float
    p50_ms: float
    p99_ms: float


@dataclass
class Summary:
    """One shape's rounds of one scenario, each with its rate against the plain loops around it."""

    rounds: list[Result]
    ratios: list[float]

    @property
    def median(self) -> Result:
        """The median round by the scenario's goal (of the two middle ones, the worse): by
        rate when events go in as fast as possible, by p99 when paced."""
        paced = self.rounds[0].scenario.rate_per_s is not None
        ranked = sorted(self.rounds, key=lambda r: -r.p99_ms if paced else r.deliveries_per_s)
        return ranked[(len(ranked) - 1) // 2]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def complete(self) -> bool:
        return all(r.received == r.scenario.deliveries for r in self.rounds)


# -- the receiver (its own process) -----------------------------------------------------------

RESPONSE_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"
RESPONSE_CLOSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"


def _control_answer(body: bytes) -> bytes:
    return f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body


class _Received:
    """What the receiver has had, and the bench's open ``wait`` requests."""

    def __init__(self) -> None:
        self.records: list[tuple[float, str, bytes]] = []
        self.waiters: list[tuple[int, Any]] = []  # (count awaited, transport to answer on)

    def add(self, received_at: float, webhook_id: bytes, body: bytes) -> None:
        self.records.append((received_at, webhook_id.decode(), body))
        if self.waiters:
            self.answer_waiters()

    def answer_waiters(self) -> None:
        count = len(self.records)
        for waiter in [w for w in self.waiters if w[0] <= count]:
            self.waiters.remove(waiter)
            waiter[1].write(_control_answer(str(count).encode()))

    def take(self) -> bytes:
        """Every record as JSON, then forget them: the next scenario starts from none."""
        taken = orjson.dumps([(at, wid, raw.decode()) for at, wid, raw in self.records])
        self.records.clear()
        return taken


class _ReceiverProtocol(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: answer 200 at once, note what came in and when.

    ``/_bench/wait/<n>`` answers once ``n`` requests have come in (the bench waits on it instead
    of polling); ``/_bench/records`` hands the records over.
    """

    def __init__(self, received: _Received) -> None:
        import httptools

        self._received = received
        self._parser = httptools.HttpRequestParser(self)
        self._error = httptools.HttpParserError
        self._transport: Any = None  # uvloop's transports are not asyncio.Transport
        self._url = b""
        self._webhook_id = b""
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except self._error:
            self._transport.close()

    def on_message_begin(self) -> None:
        self._url = b""
        self._webhook_id = b""
        self._body = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"webhook-id":
            self._webhook_id = value

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        received_at = time.time()
        if self._url.startswith(CONTROL_PATH.encode()):
            self._control(self._url.decode().removeprefix(CONTROL_PATH))
            return
        if self._parser.should_keep_alive():
            self._transport.write(RESPONSE_OK)
        else:
            self._transport.write(RESPONSE_CLOSE)
            self._transport.close()
        self._received.add(received_at, self._webhook_id, b"".join(self._body))

    def _control(self, command: str) -> None:
        if command.startswith("/wait/"):
            self._received.waiters.append((int(command.removeprefix("/wait/")), self._transport))
            self._received.answer_waiters()
        elif command == "/records":
            self._transport.write(_control_answer(self._received.take()))
        else:
            self._transport.write(_control_answer(b""))


def _serve_receiver() -> None:
    async def serve() -> None:
        received = _Received()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _ReceiverProtocol(received), "127.0.0.1", 0, backlog=1024
        )
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await server.serve_forever()

    uvloop.run(serve())


class ReceiverProcess:
    """Starts the receiver in a child process; ``stop`` ends that process."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._control = httpx.AsyncClient(timeout=httpx.Timeout(5, read=DRAIN_TIMEOUT_S))
        self.port = 0

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.outbound",
            "receive",
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        if self._process.stdout is None:
            raise RuntimeError("the receiver's stdout is not piped")
        line = await asyncio.wait_for(
            self._process.stdout.readline(), timeout=RECEIVER_START_TIMEOUT_S
        )
        self.port = int(line)

    def url(self, endpoint: int) -> str:
        return f"http://127.0.0.1:{self.port}{HOOK_PATH}/{endpoint}"

    async def wait_for(self, expected: int) -> None:
        """Return once the receiver has had ``expected`` requests, or after DRAIN_TIMEOUT_S."""
        # A timeout is not an error: the table shows how many arrived.
        with contextlib.suppress(httpx.TimeoutException):
            await self._control.get(f"http://127.0.0.1:{self.port}{CONTROL_PATH}/wait/{expected}")

    async def take_records(self) -> list[tuple[float, str, str]]:
        answer = await self._control.get(f"http://127.0.0.1:{self.port}{CONTROL_PATH}/records")
        return [tuple(row) for row in orjson.loads(answer.content)]

    async def stop(self) -> None:
        await self._control.aclose()
        if self._process is not None:
            self._process.terminate()
            await self._process.wait()


# -- measuring ---------------------------------------------------------------------------------


def _body(seq: int) -> dict[str, Any]:
    return {**PAYLOAD, "seq": seq}


async def _produce(
    scenario: Scenario, publish: Callable[[int], Awaitable[None]], started: dict[int, float]
) -> None:
    """Hand every event to ``publish``, as fast as possible or at the scenario's pace.

    ``started[seq]`` is ``time.time()`` just before the hand-off: the start of its latency.
    """
    if scenario.rate_per_s is None:
        pending = iter(range(scenario.events))

        async def worker() -> None:
            for seq in pending:
                started[seq] = time.time()
                await publish(seq)

        await asyncio.gather(*(worker() for _ in range(PUBLISH_CONCURRENCY)))
        return
    # Paced: each hand-off is its own task, so one slow publish does not hold back the next.
    tasks = []
    begun = time.monotonic()
    for seq in range(scenario.events):
        delay_s = begun + seq / scenario.rate_per_s - time.monotonic()
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        started[seq] = time.time()
        tasks.append(asyncio.create_task(publish(seq)))
    await asyncio.gather(*tasks)


def _result(
    scenario: Scenario,
    shape: str,
    started: dict[int, float],
    records: Sequence[tuple[float, str, str]],
) -> Result:
    if not records:
        return Result(scenario, shape, 0, 0, 0.0, float("nan"), float("nan"))
    latencies = [at - started[orjson.loads(raw)["seq"]] for at, _wid, raw in records]
    ids = [wid for _at, wid, _raw in records if wid]
    elapsed = max(at for at, _wid, _raw in records) - min(started.values())
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return Result(
        scenario=scenario,
        shape=shape,
        received=len(records),
        duplicates=len(ids) - len(set(ids)),
        deliveries_per_s=len(records) / elapsed,
        p50_ms=cuts[49] * 1000,
        p99_ms=cuts[98] * 1000,
    )


async def _plain_loop(scenario: Scenario, receiver: ReceiverProcess) -> Result:
    """The same HTTP client and concurrency as the dispatcher, with nothing but the POST."""
    settings = Settings(outbound_allow_private=True)
    client = make_sender(settings)
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    headers = {"Content-Type": "application/json"}

    async def enqueue(seq: int) -> None:
        queue.put_nowait(seq)

    async def sender() -> None:
        while (seq := await queue.get()) is not None:
            for endpoint in range(scenario.endpoints):
                body = seed_body(_body(seq))
                exchange = await client.send(
                    receiver.url(endpoint),
                    body,
                    headers,
                    utc_now,
                    total_timeout_s=settings.outbound_timeout_s,
                )
                if exchange.result.status_code != HTTPStatus.OK:
                    raise RuntimeError(f"the receiver answered {exchange.result}")

    started: dict[int, float] = {}
    senders = [asyncio.create_task(sender()) for _ in range(settings.outbound_max_in_flight)]
    await _produce(scenario, enqueue, started)
    for _ in senders:
        queue.put_nowait(None)
    await asyncio.gather(*senders)
    await client.aclose()
    return _result(scenario, "plain loop", started, await receiver.take_records())


async def _hookhub(
    scenario: Scenario, shape: str, database_url: str, receiver: ReceiverProcess
) -> Result:
    migrating = Database(database_url)
    await upgrade(migrating)
    await migrating.close()
    settings = Settings(
        database_url=database_url,
        redis_url=None,
        dispatcher_enabled=True,
        outbound_allow_private=True,  # the receiver is on loopback
    )
    services = Services.build(settings)
    await services.start(dispatch=True)
    heap.settle()  # as `hookhub serve` and `hookhub dispatch` do once started
    try:
        for endpoint in range(scenario.endpoints):
            await services.webhooks.create(
                WebhookCreate(
                    name=f"bench-{endpoint}",
                    url=receiver.url(endpoint),
                    event_type=EVENT_TYPE,
                    # The webhook's own cap at its maximum, so outbound_max_in_flight is the
                    # limit, as it is for the plain loop.
                    max_concurrency=MAX_CONCURRENCY,
                )
            )

        async def publish(seq: int) -> None:
            await services.publisher.publish(type=EVENT_TYPE, payload=_body(seq), source="bench")

        started: dict[int, float] = {}
        await _produce(scenario, publish, started)
        await receiver.wait_for(scenario.deliveries)
    finally:
        await services.stop()
    return _result(scenario, shape, started, await receiver.take_records())


async def _run_hookhub_round(
    scenario: Scenario, receiver: ReceiverProcess, console: Console
) -> list[Result]:
    """One run of hookhub on SQLite, then one on PostgreSQL (when it is reachable)."""
    results = []
    with tempfile.TemporaryDirectory() as folder:
        sqlite_url = f"sqlite:///{Path(folder) / 'bench.db'}"
        results.append(await _hookhub(scenario, "sqlite", sqlite_url, receiver))
    postgres_url = await create_database()
    if postgres_url is None:
        console.print(f"[yellow]PostgreSQL at {POSTGRES_URL} not reachable: skipped[/yellow]")
        return results
    try:
        results.append(await _hookhub(scenario, "postgresql", postgres_url, receiver))
    finally:
        await drop_database(postgres_url)
    return results


async def _run_scenario(
    scenario: Scenario, receiver: ReceiverProcess, console: Console
) -> dict[str, Summary]:
    """Every shape's rounds of ``scenario``, by shape, the plain loop first.

    Plain loops frame the rounds (one before each round, one more after the last), and each
    hookhub run is set against the mean rate of the two around it.
    """
    plains = [await _plain_loop(scenario, receiver)]
    rounds: list[list[Result]] = []
    for _ in range(ROUNDS):
        rounds.append(await _run_hookhub_round(scenario, receiver, console))
        plains.append(await _plain_loop(scenario, receiver))
    typical = statistics.median(plain.deliveries_per_s for plain in plains)
    summaries = {
        "plain loop": Summary(plains, [_share(p.deliveries_per_s, typical) for p in plains])
    }
    for index, results in enumerate(rounds):
        before, after = plains[index], plains[index + 1]
        around = (before.deliveries_per_s + after.deliveries_per_s) / 2
        for result in results:
            summary = summaries.setdefault(result.shape, Summary([], []))
            summary.rounds.append(result)
            summary.ratios.append(_share(result.deliveries_per_s, around))
    return summaries


def _share(rate: float, reference: float) -> float:
    return rate / reference if reference else 0.0


async def main() -> None:
    configure_logging("warning")
    console = Console()
    receiver = ReceiverProcess()
    await receiver.start()
    scenarios: list[dict[str, Summary]] = []
    try:
        # Code paths run for the first time (lazy imports, first connections) are not measured.
        await _plain_loop(Scenario("warm-up", WARM_UP_REQUESTS, 1, None), receiver)
        # Every shape runs with the collector tuned as a started hookhub tunes it.
        heap.settle()
        for scenario in SCENARIOS:
            scenarios.append(await _run_scenario(scenario, receiver, console))
    finally:
        await receiver.stop()

    in_flight = Settings().outbound_max_in_flight
    title = (
        f"Outgoing webhooks, publish to receipt: {in_flight} requests in flight, "
        f"{PUBLISH_CONCURRENCY} publishers, median of {ROUNDS} rounds, each between two plain loops"
    )
    table = Table(title=title)
    columns = (
        "scenario",
        "shape",
        "received",
        "deliveries/s",
        "p50 ms",
        "p99 ms",
        "vs plain",
        "rounds",
        "goal",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in columns[:2] else "right")
    for summaries in scenarios:
        for shape, summary in summaries.items():
            result = summary.median
            received = f"{result.received:,}/{result.scenario.deliveries:,}"
            if not summary.complete:
                received = "[red]short in a round[/red] " + received
            duplicates = sum(r.duplicates for r in summary.rounds)
            if duplicates:
                received += f" ({duplicates} twice)"
            table.add_row(
                result.scenario.name,
                shape,
                received,
                f"{result.deliveries_per_s:,.0f}",
                f"{result.p50_ms:,.1f}",
                f"{result.p99_ms:,.1f}",
                f"{summary.ratio:.2f}x",
                " ".join(f"{ratio:.2f}" for ratio in summary.ratios),
                _goal(shape, summary),
            )
    console.print(table)


def run() -> None:
    """The whole benchmark, on uvloop (see the module's docstring)."""
    uvloop.run(main())


def _goal(shape: str, summary: Summary) -> str:
    """The issue's goals: the plain loop's rate within reach; a low p99 at a steady pace."""
    if shape == "plain loop":
        return ""
    result = summary.median
    if result.scenario.rate_per_s is None:
        met = summary.ratio >= GOAL_RATIO_TO_PLAIN and summary.complete
        return f"{'met' if met else 'missed'} (≥{GOAL_RATIO_TO_PLAIN}x)"
    met = result.p99_ms < GOAL_PACED_P99_MS and summary.complete
    return f"{'met' if met else 'missed'} (p99 < {GOAL_PACED_P99_MS:.0f} ms)"


if __name__ == "__main__":
    if sys.argv[1:] == ["receive"]:
        _serve_receiver()
    else:
        run()
