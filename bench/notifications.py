"""Notifications over real sockets: notify() to frame latency, a broadcast to 1,000, memory.

Migrates a SQLite database in a temporary directory, adds two accounts, starts a redis-server and
the app in a uvicorn process on 127.0.0.1 (REDIS_URL set, uvicorn's default WebSocket protocol),
and connects WebSocket clients (the `websockets` package) from this process, on uvloop as uvicorn
itself runs. Every process it starts is stopped at the end.

- notify() to frame, one process: the app served by a uvicorn.Server inside this process, so
  notify() publishes through the app's own in-memory broker; the client shares the event loop.
- notify() to frame, two processes: notify() here, on the same database, publishing through a
  RedisBroker to the uvicorn process; the CLI's `notify` does the same, plus a process start.
- publish to subscriber on the same redis-server, no database and no socket: our RedisBroker
  against the baseline, the `broadcaster` package's Redis backend, interleaved.
- 1,000 clients connected at once (one sign-in, its cookie reused by every socket): the uvicorn
  process's RSS per idle connection, then notifications to everyone, timed to the last delivery.
- a client that stops reading while 100,000 messages are published on its channel (slowly enough
  at first for its socket's buffers to fill, then as fast as this process can): the uvicorn
  process's RSS, sampled throughout, must stay bounded. Beside it, a socket of the same user that
  keeps reading, and another user's notify() to frame latency meanwhile.

    python -m bench.notifications [--samples N] [--clients N] [--messages N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio
import uvicorn
import uvloop
from broadcaster import Broadcast
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Secret

from app import schema
from app.auth.accounts import create_user, find_user
from app.channels import Broker
from app.channels.names import user_channel
from app.channels.redis import REDIS_OPTIONS, RedisBroker
from app.config import Config
from app.db import create_engine, create_session_factory, now_utc
from app.main import create_app
from app.models import Notification
from app.notifications.service import frame, notify
from bench.client import BENCH_USER, ensure_superuser, session_cookie
from bench.goals import Goal, conclude, shortfalls
from bench.processes import (
    Services,
    cpu_seconds,
    raise_open_file_limit,
    rss_bytes,
    running_services,
)
from bench.sockets import CONNECTING_AT_ONCE, FRAME_TIMEOUT_S, Inbox, StalledSocket, open_inboxes
from bench.stats import Samples, count, load_average, ms, percentile, ratio, table
from tests.services import UvicornServer, free_port

SAMPLES = 300
WARMUP = 20
PAUSE_S = 0.005  # between two latency samples: one notification in flight at a time
CLIENTS = 1000
ROUNDS = 5
MESSAGES = 100_000
FLOOD_BATCH = 1000  # publishes sent in one round trip: one at a time manages ~2,500/s here
# The flood starts slowly enough for the server to forward all of it, past what the kernel takes
# for a socket nobody reads (about 4 MiB on loopback here, ~19,000 frames), so the stalled
# socket's sends block; then it goes as fast as this process can publish.
PACED_MESSAGES = 25_000
PACED_BATCH = 200
PACED_PAUSE_S = 0.1
RSS_EVERY_S = 0.05
PROBE_EVERY_S = 0.25
FLOOD_TIMEOUT_S = 60.0  # for a frame queued behind the flood
FLOOD_FIRST_ID = 10_000_000  # above any real notification id, so the socket forwards them all
LOGGED_LINE_CHARS = 100  # log lines are grouped on this much of their start
SECRET_KEY = "bench-secret"  # the uvicorn process gets its own through app_environment()

P50_GOAL_MS = 20.0
P99_GOAL_MS = 100.0
BROADCAST_GOAL_MS = 1000.0
# A stalled client may cost its queue (1,000 messages) and a transport buffer, a few MiB; keeping
# all 100,000 messages would cost well over 100 MiB. Bounded = under this, and flat at the end.
STALLED_GROWTH_GOAL_MIB = 32.0
STALLED_LATE_GROWTH_MIB = 4.0  # allowed growth over the second half of the flood

STALLED_USER = "bench-stalled"
STALLED_PASSWORD = "bench-stalled-correct-horse-battery"
MIB = 1024 * 1024


# --- the database ---------------------------------------------------------------------------


def prepare_database(directory: Path) -> str:
    """A migrated SQLite database with the bench superuser and the stalled client's account."""
    database_url = f"sqlite+aiosqlite:///{directory / 'notifications.sqlite'}"
    schema.upgrade(database_url, quiet=True)
    asyncio.run(add_accounts(database_url))
    return database_url


async def add_accounts(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        session_factory = create_session_factory(engine)
        await ensure_superuser(session_factory)
        async with session_factory.begin() as session:
            await create_user(session, STALLED_USER, STALLED_PASSWORD)
    finally:
        await engine.dispose()


async def user_id(session_factory: async_sessionmaker[AsyncSession], username: str) -> int:
    async with session_factory() as session:
        user = await find_user(session, username)
    if user is None:
        raise RuntimeError(f"no account {username!r}")
    return user.id


# --- notify() to frame ---------------------------------------------------------------------


@dataclass
class Latency:
    name: str
    total: Samples = field(default_factory=Samples)  # notify() called to frame received
    notify: Samples = field(default_factory=Samples)  # notify() called to returned (DB + publish)
    delivery: Samples = field(default_factory=Samples)  # notify() returned to frame received

    def goals(self) -> list[Goal]:
        bench, case = "notifications", self.name.split(" (")[0]
        return [
            Goal(bench, case, "notify() to frame p50", self.total.p50, "ms", "<=", P50_GOAL_MS),
            Goal(bench, case, "notify() to frame p99", self.total.p99, "ms", "<=", P99_GOAL_MS),
        ]

    def failures(self) -> list[str]:
        return shortfalls(self.goals())


async def notify_to_frame(
    name: str,
    session_factory: async_sessionmaker[AsyncSession],
    broker: Broker,
    inbox: Inbox,
    samples: int,
) -> Latency:
    latency = Latency(name)
    for i in range(WARMUP + samples):
        started = time.perf_counter()
        sent = await notify(session_factory, broker, user=BENCH_USER, title=f"bench {i}")
        returned = time.perf_counter()
        arrived = await inbox.arrival(sent.id)
        if i >= WARMUP:
            latency.total.add(arrived - started)
            latency.notify.add(returned - started)
            latency.delivery.add(arrived - returned)
        await asyncio.sleep(PAUSE_S)
    return latency


async def one_process(database_url: str, samples: int) -> Latency:
    """The app served by uvicorn in this process: notify() goes through app.state.broker."""
    app = create_app(
        Config(database_url=database_url, secret_key=Secret(SECRET_KEY), scheduler="off")
    )
    port = free_port()
    config = uvicorn.Config(app, host=UvicornServer.host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(FRAME_TIMEOUT_S):
            while not server.started:
                if serving.done():
                    serving.result()
                    raise RuntimeError("the in-process uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        cookie = await session_cookie(f"http://{UvicornServer.host}:{port}")
        inbox = await Inbox.open(port, cookie)
        try:
            name = "one process (uvicorn in this process, in-memory broker)"
            return await notify_to_frame(
                name, app.state.session_factory, app.state.broker, inbox, samples
            )
        finally:
            await inbox.close()
    finally:
        server.should_exit = True
        await serving


@dataclass(frozen=True)
class Publisher:
    """This process's side of the two-process setup: the app's database and a RedisBroker."""

    session_factory: async_sessionmaker[AsyncSession]
    broker: RedisBroker

    async def notify(self, **recipient: Any) -> Notification:
        return await notify(self.session_factory, self.broker, **recipient)


@contextlib.asynccontextmanager
async def publishing(services: Services) -> AsyncIterator[Publisher]:
    engine = create_engine(services.database_url)
    client = redis.asyncio.from_url(services.redis_url, **REDIS_OPTIONS)
    try:
        # Publishing needs no subscription of its own, as in the CLI's `notify`.
        yield Publisher(create_session_factory(engine), RedisBroker(client))
    finally:
        await client.aclose()
        await engine.dispose()


# --- publish to subscriber: ours against broadcaster ----------------------------------------


def sample_frame(notification_id: int = 1) -> dict[str, Any]:
    """A notification frame as notify() publishes it, without a database."""
    return frame(
        Notification(
            id=notification_id,
            title="Nightly export finished",
            body="12,345 orders exported to the warehouse",
            level="success",
            link="/admin/order/list",
            created_at=now_utc(),
        )
    )


@dataclass
class PublishLatency:
    ours: Samples = field(default_factory=Samples)
    broadcaster: Samples = field(default_factory=Samples)


async def publish_to_subscriber(redis_url: str, samples: int) -> PublishLatency:
    result = PublishLatency()
    data = sample_frame()
    client = redis.asyncio.from_url(redis_url, **REDIS_OPTIONS)
    broker = RedisBroker(client)
    await broker.start()
    try:
        async with asyncio.timeout(FRAME_TIMEOUT_S):
            while True:  # the broker offers no event to wait on
                if broker.status() == "ok":
                    break
                await asyncio.sleep(0.01)
        subscription = await broker.subscribe(["bench-ours"])
        async with (
            Broadcast(redis_url) as broadcast,
            # broadcaster 0.3.1 on redis-py 8 never hears its first channel: the listener runs
            # before redis-py records the SUBSCRIBE, sees no channel and waits for good.
            broadcast.subscribe("bench-broadcaster-first"),
            broadcast.subscribe("bench-broadcaster") as subscriber,
        ):
            # Both send SUBSCRIBE without waiting for Redis to confirm it.
            await asyncio.sleep(0.2)

            async def ours() -> float:
                started = time.perf_counter()
                await broker.publish("bench-ours", data)
                await subscription.get()
                return time.perf_counter() - started

            async def theirs() -> float:
                started = time.perf_counter()
                await broadcast.publish("bench-broadcaster", json.dumps(data))
                json.loads((await subscriber.get()).message)  # ours hands over parsed JSON too
                return time.perf_counter() - started

            for i in range(WARMUP + samples):
                # Alternate who goes first so neither always runs on a loop the other just woke.
                first, second = (ours, theirs) if i % 2 == 0 else (theirs, ours)
                async with asyncio.timeout(FRAME_TIMEOUT_S):
                    seconds = {first: await first(), second: await second()}
                if i >= WARMUP:
                    result.ours.add(seconds[ours])
                    result.broadcaster.add(seconds[theirs])
                await asyncio.sleep(PAUSE_S)
        await broker.unsubscribe(subscription)
    finally:
        await broker.stop()
        await client.aclose()
    return result


# --- 1,000 clients ---------------------------------------------------------------------------


@dataclass
class Broadcast1000:
    clients: int
    connect_seconds: float
    connect_cpu: float  # the uvicorn process's CPU time while the sockets opened
    rss_before: int
    rss_idle: int
    first: Samples = field(default_factory=Samples)  # notify() called to the first delivery
    last: Samples = field(default_factory=Samples)  # ... to the last
    server_cpu: Samples = field(default_factory=Samples)  # the uvicorn process's, per round
    client_cpu: Samples = field(default_factory=Samples)  # this process's (the clients'), per round

    @property
    def per_connection(self) -> float:
        return (self.rss_idle - self.rss_before) / self.clients

    def deliveries_per_second(self, last_seconds: float) -> float:
        return self.clients / last_seconds

    def goals(self) -> list[Goal]:
        worst = max(self.last.durations) * 1000
        case = f"broadcast to {self.clients:,} sockets"
        return [Goal("notifications", case, "slowest round", worst, "ms", "<=", BROADCAST_GOAL_MS)]

    def failures(self) -> list[str]:
        return shortfalls(self.goals())


async def broadcast_to_many(
    services: Services, cookie: str, publisher: Publisher, clients: int
) -> Broadcast1000:
    pid, port = services.server.pid, services.server.port
    # Code paths warmed (deflate, the protocol's modules) before the baseline is taken.
    for inbox in await open_inboxes(port, cookie, CONNECTING_AT_ONCE):
        await inbox.close()
    await asyncio.sleep(0.5)
    rss_before = rss_bytes(pid)
    started, server_cpu = time.perf_counter(), cpu_seconds(pid)
    inboxes = await open_inboxes(port, cookie, clients)
    connect_seconds = time.perf_counter() - started
    connect_cpu = cpu_seconds(pid) - server_cpu
    try:
        await asyncio.sleep(0.5)
        result = Broadcast1000(clients, connect_seconds, connect_cpu, rss_before, rss_bytes(pid))
        print(
            f"  {clients:,} sockets open in {connect_seconds:.1f}s; notifying everyone ...",
            flush=True,
        )
        for i in range(ROUNDS):
            server_cpu, client_cpu = cpu_seconds(pid), time.process_time()
            started = time.perf_counter()
            sent = await publisher.notify(everyone=True, title=f"everyone {i}")
            arrivals = await asyncio.gather(*(inbox.arrival(sent.id) for inbox in inboxes))
            result.first.add(min(arrivals) - started)
            result.last.add(max(arrivals) - started)
            result.server_cpu.add(cpu_seconds(pid) - server_cpu)
            result.client_cpu.add(time.process_time() - client_cpu)
            await asyncio.sleep(0.2)
        return result
    finally:
        await asyncio.gather(*(inbox.close() for inbox in inboxes))


# --- a stalled client ------------------------------------------------------------------------


@dataclass
class Stalled:
    messages: int
    publish_seconds: float
    drained_seconds: float  # flood started to the server having read all of it from Redis
    rss: list[tuple[float, int, int]]  # (seconds since the flood started, published, RSS)
    probes: Samples  # another user's notify() to frame while the flood goes on
    socket: StalledSocket
    closed_by_server: str
    reading: Counter[str]  # frames by type that a socket of the same user, reading, got

    @property
    def baseline(self) -> int:
        return self.rss[0][2]

    @property
    def peak(self) -> int:
        return max(rss for _, _, rss in self.rss)

    @property
    def final(self) -> int:
        return self.rss[-1][2]

    def rss_at(self, published: int) -> int:
        """The first sample taken once `published` messages were out."""
        return next(rss for _, count, rss in self.rss if count >= published)

    @property
    def late_growth(self) -> int:
        """Growth over the second half of the flood: flat when the memory is bounded."""
        return self.rss_at(self.messages) - self.rss_at(self.messages // 2)

    def goals(self) -> list[Goal]:
        bench, case = "notifications", "stalled client memory"
        growth, late = (self.peak - self.baseline) / MIB, self.late_growth / MIB
        return [
            Goal(bench, case, "RSS growth", growth, "MiB", "<=", STALLED_GROWTH_GOAL_MIB),
            Goal(bench, case, "2nd-half growth", late, "MiB", "<=", STALLED_LATE_GROWTH_MIB),
        ]

    def failures(self) -> list[str]:
        return shortfalls(self.goals())


async def stalled_client(
    services: Services, witness: Inbox, publisher: Publisher, messages: int
) -> Stalled:
    pid, port = services.server.pid, services.server.port
    cookie = await session_cookie(services.server.base_url, STALLED_USER, STALLED_PASSWORD)
    stalled = await StalledSocket.open(port, cookie)
    try:
        # The control: the same user's channel, read as fast as this process can.
        reading = await Inbox.open(port, cookie)
        try:
            return await flood(pid, stalled, reading, witness, publisher, messages)
        finally:
            await reading.close()
    finally:
        stalled.close()


async def flood(
    pid: int,
    stalled: StalledSocket,
    reading: Inbox,
    witness: Inbox,
    publisher: Publisher,
    messages: int,
) -> Stalled:
    channel = user_channel(await user_id(publisher.session_factory, STALLED_USER))
    base = sample_frame()
    samples: list[tuple[float, int, int]] = []
    published = 0
    started = time.perf_counter()
    samples.append((0.0, 0, rss_bytes(pid)))

    async def sample_rss() -> None:
        while True:
            await asyncio.sleep(RSS_EVERY_S)
            samples.append((time.perf_counter() - started, published, rss_bytes(pid)))

    probes = Samples()

    async def probe(i: int) -> None:
        sent_at = time.perf_counter()
        sent = await publisher.notify(user=BENCH_USER, title=f"probe {i}")
        probes.add(await witness.arrival(sent.id, FLOOD_TIMEOUT_S) - sent_at)

    flooded = asyncio.Event()

    async def probe_while_flooding() -> None:
        # Stopped by `flooded`, never cancelled: a notify() cancelled halfway through its
        # transaction can leave SQLite's write lock taken, and the next insert fails.
        i = 0
        while not flooded.is_set():
            await probe(i)
            i += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(flooded.wait(), PROBE_EVERY_S)

    sampler = asyncio.create_task(sample_rss())
    prober = asyncio.create_task(probe_while_flooding())
    try:
        while published < messages:
            paced = published < PACED_MESSAGES
            ids = range(
                published, min(published + (PACED_BATCH if paced else FLOOD_BATCH), messages)
            )
            # A RedisBroker over a pipeline: publish() queues, execute() sends the whole batch.
            async with publisher.broker.client.pipeline(transaction=False) as pipeline:
                batch = RedisBroker(pipeline)
                for i in ids:
                    await batch.publish(channel, {**base, "id": FLOOD_FIRST_ID + i})
                await pipeline.execute()
            published = ids.stop
            if paced:
                await asyncio.sleep(PACED_PAUSE_S)
        publish_seconds = time.perf_counter() - started
        flooded.set()
        await prober
        # Redis keeps order on the server's one pub-sub connection: this comes after the flood.
        await probe(-1)
        drained_seconds = time.perf_counter() - started
        await asyncio.sleep(1.0)
    finally:
        for task in (sampler, prober):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    samples.append((time.perf_counter() - started, published, rss_bytes(pid)))
    await stalled.read_again()
    closed = stalled.closed_by_server()
    return Stalled(
        messages, publish_seconds, drained_seconds, samples, probes, stalled, closed, reading.kinds
    )


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Results:
    latencies: list[Latency]
    publish: PublishLatency
    broadcast: Broadcast1000
    stalled: Stalled
    server_log: str


def quiet_broadcaster_teardown(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # broadcaster closes its pub-sub connection before cancelling the task reading it, which then
    # dies of "Connection closed by server" and is reported as never retrieved: no bench failure.
    task = context.get("future")
    if isinstance(task, asyncio.Task) and "RedisBackend._pubsub_listener" in repr(task):
        return
    loop.default_exception_handler(context)


async def run(services: Services, samples: int, clients: int, messages: int) -> Results:
    asyncio.get_running_loop().set_exception_handler(quiet_broadcaster_teardown)
    print(f"  load average before: {load_average()}", flush=True)
    print("  notify() to frame, one process ...", flush=True)
    latencies = [await one_process(services.database_url, samples)]
    server = services.server
    cookie = await session_cookie(server.base_url)
    async with publishing(services) as publisher:
        print("  notify() to frame, two processes through Redis ...", flush=True)
        witness = await Inbox.open(server.port, cookie)
        try:
            name = "two processes (notify() here, Redis, uvicorn process)"
            latencies.append(
                await notify_to_frame(
                    name, publisher.session_factory, publisher.broker, witness, samples
                )
            )
            print("  publish to subscriber: RedisBroker and broadcaster ...", flush=True)
            publish = await publish_to_subscriber(services.redis_url, samples)
            print(f"  opening {clients:,} sockets ...", flush=True)
            many = await broadcast_to_many(services, cookie, publisher, clients)
            print(f"  a stalled client while {messages:,} messages are published ...", flush=True)
            stalled = await stalled_client(services, witness, publisher, messages)
        finally:
            await witness.close()
    print(f"  load average after: {load_average()}", flush=True)
    return Results(latencies, publish, many, stalled, server.output())


# --- the report ------------------------------------------------------------------------------


def mib(value: float) -> str:
    return f"{value / MIB:.1f}"


def latency_table(results: Results) -> str:
    headers = ["case", "notify() p50", "delivery p50", "p50", "p95", "p99", "goal", "result"]
    rows = [
        [
            latency.name,
            ms(latency.notify.p50),
            ms(latency.delivery.p50),
            ms(latency.total.p50),
            ms(latency.total.p95),
            ms(latency.total.p99),
            f"p50 <= {P50_GOAL_MS:.0f}, p99 <= {P99_GOAL_MS:.0f} ms",
            "FAIL" if latency.failures() else "PASS",
        ]
        for latency in results.latencies
    ]
    return table(headers, rows)


def publish_table(publish: PublishLatency) -> str:
    headers = ["publish to subscriber", "p50", "p95", "p99", "broadcaster/ours p50"]
    rows = [
        ["ours: RedisBroker, Subscription.get()", *cells(publish.ours), ""],
        [
            "baseline: broadcaster, Redis backend",
            *cells(publish.broadcaster),
            ratio(publish.broadcaster.p50, publish.ours.p50),
        ],
    ]
    return table(headers, rows)


def cells(samples: Samples) -> list[str]:
    return [ms(samples.p50, 2), ms(samples.p95, 2), ms(samples.p99, 2)]


def broadcast_table(many: Broadcast1000) -> str:
    headers = ["", "p50", "max", "goal", "result"]
    last = many.last.durations
    rows = [
        ["first delivery (ms)", ms(many.first.p50), ms(max(many.first.durations) * 1000), "", ""],
        [
            "last delivery (ms)",
            ms(many.last.p50),
            ms(max(last) * 1000),
            f"<= {BROADCAST_GOAL_MS:.0f} ms",
            "FAIL" if many.failures() else "PASS",
        ],
        [
            "deliveries/s (clients / last delivery)",
            f"{many.deliveries_per_second(percentile(last, 50)):,.0f}",
            f"{many.deliveries_per_second(max(last)):,.0f} (slowest)",
            "",
            "",
        ],
        [
            "uvicorn process CPU per round (ms)",
            ms(many.server_cpu.p50, 0),
            ms(many.server_cpu.ms(100), 0),
            "",
            "",
        ],
        [
            "clients' CPU per round (ms, this process)",
            ms(many.client_cpu.p50, 0),
            ms(many.client_cpu.ms(100), 0),
            "",
            "",
        ],
    ]
    return table(headers, rows)


def memory_table(many: Broadcast1000, stalled: Stalled) -> str:
    headers = ["uvicorn process RSS (MiB)", "before", "after", "growth", "goal", "result"]
    growth = stalled.peak - stalled.baseline
    rows = [
        [
            f"{many.clients:,} idle sockets, {many.per_connection / 1024:.1f} KiB each",
            mib(many.rss_before),
            mib(many.rss_idle),
            mib(many.rss_idle - many.rss_before),
            "",
            "",
        ],
        [
            f"stalled client, {stalled.messages:,} messages (peak)",
            mib(stalled.baseline),
            mib(stalled.peak),
            mib(growth),
            f"<= {STALLED_GROWTH_GOAL_MIB:.0f}, flat at the end",
            "FAIL" if stalled.failures() else "PASS",
        ],
    ]
    return table(headers, rows)


def rss_timeline(stalled: Stalled) -> str:
    marks = sorted(
        {min(PACED_MESSAGES, stalled.messages)}
        | {stalled.messages * quarter // 4 for quarter in range(1, 5)}
    )
    points = [f"0: {mib(stalled.baseline)}"]
    points += [f"{count:,}: {mib(stalled.rss_at(count))}" for count in marks]
    points.append(f"1s after the drain: {mib(stalled.final)}")
    return "RSS (MiB) by messages published: " + ", ".join(points)


def stalled_lines(stalled: Stalled) -> list[str]:
    sock = stalled.socket
    ids = sock.ids
    # Published concurrently on several connections, so they arrive slightly out of order.
    flood = sorted(i - FLOOD_FIRST_ID for i in ids if i >= FLOOD_FIRST_ID)
    runs: list[list[int]] = []  # contiguous runs of flood messages the stalled client got
    for index in flood:
        if runs and index == runs[-1][1] + 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    shown = ", ".join(f"{a:,}-{b:,}" if a != b else f"{a:,}" for a, b in runs[:4])
    if len(runs) > 4:
        shown += f", ... ({len(runs)} runs)"
    return [
        f"flood: {stalled.messages:,} messages published in {stalled.publish_seconds:.1f}s"
        f" ({stalled.messages / stalled.publish_seconds:,.0f}/s); the server had read them all"
        f" from Redis {stalled.drained_seconds:.1f}s after the start",
        rss_timeline(stalled),
        f"another user's notify() to frame during the flood: p50 {ms(stalled.probes.p50)} ms,"
        f" max {ms(stalled.probes.ms(100))} ms over {len(stalled.probes.durations)} probes"
        " (queued behind the flood on the server's one Redis connection)",
        f"the stalled client, reading again: {sock.bytes / 1024:,.0f} KiB were waiting;"
        f" {len(flood):,} of {stalled.messages:,} flood frames (indices {shown or 'none'}),"
        f" {sock.kinds['unread']} resync frame(s) (unread count);"
        f" closed by the server: {stalled.closed_by_server}",
        f"a socket of the same user that kept reading got {stalled.reading['notification']:,}"
        f" of the {stalled.messages:,} and {stalled.reading['unread'] - 1} resync frame(s)",
    ]


def report(results: Results, samples: int) -> str:
    many, stalled = results.broadcast, results.stalled
    lines = [
        "\nNotifications over real sockets (127.0.0.1, uvicorn's default WebSocket protocol,"
        " permessage-deflate as browsers negotiate it)",
        f"notify() to frame in ms: {samples} notifications one at a time after {WARMUP}"
        " warm-ups, timed from the call to notify() (insert + commit on SQLite, then publish) to"
        " the frame read by a `websockets` client in this process; notify() = the call alone,"
        " delivery = from its return to the frame",
        "",
        latency_table(results),
        "\nPublish to subscriber in ms on the same redis-server, both in this process, interleaved"
        " (no database, no WebSocket): the broker layer alone",
        "",
        publish_table(results.publish),
        f"\nNotification to everyone, {many.clients:,} clients of one user (one sign-in, its"
        f" cookie on every socket), {ROUNDS} rounds, sent from this process through Redis",
        "",
        broadcast_table(many),
        "last delivery by round (ms): "
        + ", ".join(ms(seconds * 1000, 0) for seconds in many.last.durations)
        + "; uvicorn CPU by round (ms): "
        + ", ".join(ms(seconds * 1000, 0) for seconds in many.server_cpu.durations),
        f"opening the {many.clients:,} sockets ({CONNECTING_AT_ONCE} handshakes at a time):"
        f" {many.connect_seconds:.1f}s, {many.clients / many.connect_seconds:,.0f} per second;"
        f" the uvicorn process spent {many.connect_cpu * 1000 / many.clients:.1f} ms of CPU on"
        " each (handshake, sign-in check, subscribe, first frame; the user and their unread count"
        " kept in the process after the first)",
        "\nMemory of the uvicorn process (RSS from /proc)",
        "",
        memory_table(many, stalled),
        *stalled_lines(stalled),
    ]
    for latency in results.latencies:
        if latency.failures():
            lines.append(f"FAIL {latency.name}: {'; '.join(latency.failures())}")
    if many.failures():
        lines.append(f"FAIL broadcast: {'; '.join(many.failures())}")
    if stalled.failures():
        lines.append(f"FAIL stalled client: {'; '.join(stalled.failures())}")
    logged = Counter(
        # Task names and addresses differ line to line: grouped without their digits.
        re.sub(r"\d+", "N", line)[:LOGGED_LINE_CHARS]
        for line in results.server_log.splitlines()
        if line.strip() and not line.startswith(" ")  # a traceback's details
    )
    if logged:
        lines.append(f"\nthe uvicorn process logged (warnings and up, {len(logged)} distinct):")
        lines += [f"  {count:>6} x {line}" for line, count in logged.most_common(8)]
    return "\n".join(lines)


def summary(results: Results) -> str:
    goals = [goal for latency in results.latencies for goal in latency.goals()]
    goals += results.broadcast.goals() + results.stalled.goals()
    return conclude("notifications", goals, "goals met")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.notifications", description=__doc__)
    parser.add_argument("--samples", type=count, default=SAMPLES, help="latency samples per case")
    parser.add_argument("--clients", type=count, default=CLIENTS, help="sockets for the broadcast")
    parser.add_argument(
        "--messages", type=count, default=MESSAGES, help="the stalled client's flood"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_open_file_limit(2 * args.clients + 1000)
    print(
        f"notifications: {args.clients:,} clients, {args.messages:,}-message flood, SQLite and"
        " redis-server in a temporary directory",
        flush=True,
    )
    with (
        tempfile.TemporaryDirectory(prefix="starboard-bench-") as directory,
        running_services(Path(directory), prepare_database(Path(directory))) as services,
    ):
        results: Results = uvloop.run(run(services, args.samples, args.clients, args.messages))
    print(report(results, args.samples))
    print("\n" + summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
