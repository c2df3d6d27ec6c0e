"""Sockets at scale: opening many, holding 10,000 idle, and another user's frames during a flood.

Migrates a SQLite database in a temporary directory, adds two accounts, starts a redis-server and
the app as `python -m app serve` runs it (one process on 127.0.0.1, REDIS_URL set, the socket
options and open-file limit `serve` sets), and connects WebSocket clients (the `websockets`
package, reused from bench/sockets.py) from this process. Every process it starts is stopped at
the end. One sign-in's cookie serves every socket of a user, as in bench/notifications.py.

- 10,000 idle sockets: opened 50 handshakes at a time, each until its first frame, then held
  through a round of keepalive pings; the server's RSS before and after, per socket; errors are
  sockets refused or failed, closed by the server while idle, or not answering a `ping` at the
  end, plus error lines in the server's log.
- 1,000 sockets opened, timed the same way, with the server's CPU per socket. All are one
  user's: who they are and their first frame are read once, then kept in the server's cache (as
  for a user opening page after page); a thousand users' sockets would each read them once.
- a flood: 100,000 messages published through Redis on one user's channel, that user having a
  socket reading everything and one that stopped reading, while another user's socket gets a
  notification frame every few milliseconds: publish to frame, p50/p95/p99.

    python -m bench.sockets_scale [--idle N] [--open N] [--messages N] [--hold S]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio
import uvloop

from app.channels.names import user_channel
from app.channels.redis import REDIS_OPTIONS, RedisBroker
from app.db import create_engine, create_session_factory
from bench.client import BENCH_USER, session_cookie
from bench.goals import Goal, conclude
from bench.notifications import (
    FLOOD_FIRST_ID,
    STALLED_PASSWORD,
    STALLED_USER,
    prepare_database,
    sample_frame,
    user_id,
)
from bench.processes import (
    Services,
    cpu_seconds,
    raise_open_file_limit,
    rss_bytes,
    running_services,
)
from bench.sockets import CONNECTING_AT_ONCE, Inbox, StalledSocket, open_inboxes
from bench.stats import Samples, count, load_average, ms, table

IDLE = 10_000
OPENED = 1_000
MESSAGES = 100_000
HOLD_S = 25.0  # past the server's keepalive ping (every 20 s) on every idle socket
WARMUP = 50  # sockets opened and closed first: code paths and pools warmed before measuring
SETTLE_S = 1.0
FLOOD_BATCH = 250  # publishes per round trip: the flood as fast as this process can send
PROBE_EVERY_S = 0.01  # another user's notifications while the flood goes on: ~200 of them
PROBE_FIRST_ID = 20_000_000  # above the flood's ids, so the socket forwards each
PROBE_TIMEOUT_S = 30.0
ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL)\b|^Traceback", re.MULTILINE)

OPEN_GOAL_S = 2.0
DELAY_GOAL_MS = 100.0
IDLE_MEMORY_GOAL_KIB = 30.0
KIB = 1024
MIB = 1024 * 1024


# --- idle sockets ----------------------------------------------------------------------------


@dataclass
class Idle:
    sockets: int
    open_seconds: float
    rss_before: int
    rss_open: int
    refused: int  # handshakes that failed or never got their first frame
    closed: int  # sockets the server closed while they sat idle
    silent: int  # sockets that did not answer a ping at the end
    logged_errors: int  # error lines in the server's log meanwhile

    @property
    def per_socket(self) -> float:
        return (self.rss_open - self.rss_before) / self.sockets

    @property
    def errors(self) -> int:
        return self.refused + self.closed + self.silent + self.logged_errors

    def goals(self) -> list[Goal]:
        case = f"{self.sockets:,} idle sockets"
        per_socket = self.per_socket / KIB
        return [
            Goal(
                "sockets_scale", case, "memory per idle socket", per_socket, "KiB", "<=",
                IDLE_MEMORY_GOAL_KIB,
            ),
            Goal("sockets_scale", case, "errors", self.errors, "", "==", 0),
        ]  # fmt: skip


async def open_many(port: int, cookie: str, sockets: int) -> tuple[list[Inbox], int]:
    """The sockets that opened, and how many did not."""
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)

    async def one() -> Inbox:
        async with gate:
            return await Inbox.open(port, cookie)

    opened = await asyncio.gather(*(one() for _ in range(sockets)), return_exceptions=True)
    inboxes = [inbox for inbox in opened if isinstance(inbox, Inbox)]
    return inboxes, len(opened) - len(inboxes)


async def answering(inbox: Inbox) -> bool:
    """Whether the socket answers a ping with a pong."""
    pongs = inbox.kinds["pong"]
    try:
        await inbox.connection.send('{"type": "ping"}')
        await inbox.wait(lambda: inbox.kinds["pong"] > pongs, "a pong")
    except Exception:
        return False
    return True


async def hold_idle(services: Services, cookie: str, sockets: int, hold_s: float) -> Idle:
    server = services.server
    pid, port = server.pid, server.port
    log_before = len(server.output())
    await asyncio.sleep(SETTLE_S)
    rss_before = rss_bytes(pid)
    started = time.perf_counter()
    inboxes, refused = await open_many(port, cookie, sockets)
    open_seconds = time.perf_counter() - started
    try:
        await asyncio.sleep(SETTLE_S)
        rss_open = rss_bytes(pid)
        print(
            f"  {len(inboxes):,} sockets open in {open_seconds:.1f}s,"
            f" {(rss_open - rss_before) / MIB:.1f} MiB; holding them {hold_s:.0f}s ...",
            flush=True,
        )
        await asyncio.sleep(hold_s)
        closed = sum(1 for inbox in inboxes if inbox.closed)
        gate = asyncio.Semaphore(CONNECTING_AT_ONCE * 4)

        async def checked(inbox: Inbox) -> bool:
            async with gate:
                return inbox.closed or await answering(inbox)

        silent = sum(1 for ok in await asyncio.gather(*map(checked, inboxes)) if not ok)
    finally:
        await asyncio.gather(*(inbox.close() for inbox in inboxes))
    logged = len(ERROR_LINE.findall(server.output()[log_before:]))
    return Idle(sockets, open_seconds, rss_before, rss_open, refused, closed, silent, logged)


# --- opening sockets ---------------------------------------------------------------------------


@dataclass
class Opening:
    sockets: int
    seconds: float
    server_cpu: float  # the server's CPU time while they opened
    refused: int
    # This process's, the clients': both share the machine's cores, so a costly client slows
    # the opening as much as a costly server does.
    client_cpu: float = 0.0

    def goals(self) -> list[Goal]:
        case = f"{self.sockets:,} sockets opened"
        return [
            Goal("sockets_scale", case, "wall time", self.seconds, "s", "<=", OPEN_GOAL_S),
            Goal("sockets_scale", case, "refused", self.refused, "", "==", 0),
        ]


async def open_timed(services: Services, cookie: str, sockets: int) -> Opening:
    pid, port = services.server.pid, services.server.port
    await asyncio.sleep(SETTLE_S)
    started, cpu, own = time.perf_counter(), cpu_seconds(pid), time.process_time()
    inboxes, refused = await open_many(port, cookie, sockets)
    seconds, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu
    own = time.process_time() - own
    await asyncio.gather(*(inbox.close() for inbox in inboxes))
    return Opening(sockets, seconds, cpu, refused, own)


# --- a flood on one channel --------------------------------------------------------------------


class Drain:
    """A socket that reads everything the server sends it and throws it away unparsed: the
    flood's reader costs the server its sends, and this process next to nothing."""

    def __init__(self, socket: StalledSocket) -> None:
        self.socket = socket
        self.bytes = 0
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while data := await loop.sock_recv(self.socket.sock, 1 << 20):
            self.bytes += len(data)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await self._task
        self.socket.close()


@dataclass
class Flood:
    messages: int
    publish_seconds: float
    delays: Samples = field(default_factory=Samples)  # publish to frame, another user's
    quiet: Samples = field(default_factory=Samples)  # the same, with no flood
    drained_bytes: int = 0
    stalled_closed: str = ""

    def goals(self) -> list[Goal]:
        case = f"another user's frames during a {self.messages:,}-message flood"
        return [
            Goal("sockets_scale", case, "delay p99", self.delays.p99, "ms", "<=", DELAY_GOAL_MS),
        ]


async def probe(
    broker: RedisBroker, channel: str, witness: Inbox, notification_id: int, samples: Samples
) -> None:
    frame = {**sample_frame(), "id": notification_id}
    sent_at = time.perf_counter()
    await broker.publish(channel, frame)
    samples.add(await witness.arrival(notification_id, PROBE_TIMEOUT_S) - sent_at)


async def flood(services: Services, witness: Inbox, messages: int) -> Flood:
    server = services.server
    engine = create_engine(services.database_url)
    client = redis.asyncio.from_url(services.redis_url, **REDIS_OPTIONS)
    flooded_cookie = await session_cookie(server.base_url, STALLED_USER, STALLED_PASSWORD)
    stalled = await StalledSocket.open(server.port, flooded_cookie)
    drain = Drain(await StalledSocket.open(server.port, flooded_cookie))
    try:
        session_factory = create_session_factory(engine)
        flooded = user_channel(await user_id(session_factory, STALLED_USER))
        watched = user_channel(await user_id(session_factory, BENCH_USER))
        broker = RedisBroker(client)
        next_id = PROBE_FIRST_ID
        result = Flood(messages, 0.0)
        for _ in range(50):  # the same path without a flood, for comparison
            await probe(broker, watched, witness, next_id, result.quiet)
            next_id += 1
            await asyncio.sleep(PROBE_EVERY_S)
        done = asyncio.Event()

        async def probing() -> None:
            nonlocal next_id
            while not done.is_set():
                await probe(broker, watched, witness, next_id, result.delays)
                next_id += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), PROBE_EVERY_S)

        base = sample_frame()
        prober = asyncio.create_task(probing())
        started = time.perf_counter()
        try:
            for first in range(0, messages, FLOOD_BATCH):
                # A RedisBroker over a pipeline: publish() queues, execute() sends the batch.
                async with client.pipeline(transaction=False) as pipeline:
                    batch = RedisBroker(pipeline)
                    for i in range(first, min(first + FLOOD_BATCH, messages)):
                        await batch.publish(flooded, {**base, "id": FLOOD_FIRST_ID + i})
                    await pipeline.execute()
            result.publish_seconds = time.perf_counter() - started
        finally:
            done.set()
            await prober
        # Redis keeps order on the server's one pub-sub connection: this comes after the flood.
        await probe(broker, watched, witness, next_id, result.delays)
        await asyncio.sleep(SETTLE_S)
        result.drained_bytes = drain.bytes
        await stalled.read_again()
        result.stalled_closed = stalled.closed_by_server()
        return result
    finally:
        await drain.close()
        stalled.close()
        await client.aclose()
        await engine.dispose()


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Results:
    idle: Idle
    opening: Opening
    flood: Flood
    server_log: str


async def run(services: Services, idle: int, opened: int, messages: int, hold_s: float) -> Results:
    server = services.server
    print(f"  load average before: {load_average()}", flush=True)
    cookie = await session_cookie(server.base_url)
    for inbox in await open_inboxes(server.port, cookie, WARMUP):
        await inbox.close()
    print(f"  {idle:,} idle sockets ...", flush=True)
    held = await hold_idle(services, cookie, idle, hold_s)
    print(f"  opening {opened:,} sockets ...", flush=True)
    opening = await open_timed(services, cookie, opened)
    print(f"  a {messages:,}-message flood on one user's channel ...", flush=True)
    witness = await Inbox.open(server.port, cookie)
    try:
        flooded = await flood(services, witness, messages)
    finally:
        await witness.close()
    print(f"  load average after: {load_average()}", flush=True)
    return Results(held, opening, flooded, server.output())


def report(results: Results) -> str:
    idle, opening, flooded = results.idle, results.opening, results.flood
    headers = ["case", "figure", "goal", "result"]
    goals = idle.goals() + opening.goals() + flooded.goals()
    rows = [
        [f"{goal.case}: {goal.name}", goal.measured, goal.threshold, "PASS" if goal.met else "FAIL"]
        for goal in goals
    ]
    delays, quiet = flooded.delays, flooded.quiet
    warnings = [line for line in results.server_log.splitlines() if "WARNING" in line]
    shown = [f"  {line[:160]}" for line in dict.fromkeys(warnings)][:8]
    return "\n".join(
        [
            "\nSockets at scale (127.0.0.1, `python -m app serve`, REDIS_URL set, one process)",
            "",
            table(headers, rows),
            "",
            f"{idle.sockets:,} idle sockets: opened in {idle.open_seconds:.1f}s; server RSS"
            f" {idle.rss_before / MIB:.1f} -> {idle.rss_open / MIB:.1f} MiB"
            f" ({idle.per_socket / KIB:.1f} KiB each); refused {idle.refused}, closed while idle"
            f" {idle.closed}, no pong {idle.silent}, error lines logged {idle.logged_errors}",
            f"{opening.sockets:,} sockets opened in {opening.seconds:.2f}s"
            f" ({opening.sockets / opening.seconds:,.0f}/s, {CONNECTING_AT_ONCE} handshakes at a"
            f" time); the server spent {opening.server_cpu * 1000 / opening.sockets:.2f} ms of CPU"
            " on each (handshake, sign-in check, subscribe, first frame), the clients"
            f" {opening.client_cpu * 1000 / opening.sockets:.2f} ms",
            f"flood: {flooded.messages:,} messages published in {flooded.publish_seconds:.1f}s"
            f" ({flooded.messages / flooded.publish_seconds:,.0f}/s) on one user's channel; its"
            f" reading socket got {flooded.drained_bytes / MIB:.1f} MiB, its stalled socket was"
            f" closed by the server: {flooded.stalled_closed}",
            f"another user's frames, publish to frame (ms): during the flood p50 {ms(delays.p50)},"
            f" p95 {ms(delays.p95)}, p99 {ms(delays.p99)}, max {ms(delays.ms(100))} over"
            f" {len(delays.durations)}; without a flood p50 {ms(quiet.p50)}, p99 {ms(quiet.p99)}",
            *(
                [f"the server logged {len(warnings)} warnings, first distinct ones:"]
                if shown
                else []
            ),
            *shown,
        ]
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.sockets_scale", description=__doc__)
    parser.add_argument("--idle", type=count, default=IDLE, help="idle sockets held at once")
    parser.add_argument("--open", type=count, default=OPENED, help="sockets opened, timed")
    parser.add_argument("--messages", type=count, default=MESSAGES, help="the flood's size")
    parser.add_argument("--hold", type=float, default=HOLD_S, help="seconds the idle ones stay")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Both ends of every socket are on this machine; the server raises its own limit.
    raise_open_file_limit(args.idle + 1000)
    print(
        f"sockets_scale: {args.idle:,} idle sockets, {args.open:,} opened, a"
        f" {args.messages:,}-message flood; SQLite and redis-server in a temporary directory",
        flush=True,
    )
    with (
        tempfile.TemporaryDirectory(prefix="starboard-bench-") as directory,
        running_services(
            Path(directory), prepare_database(Path(directory)), serve=True
        ) as services,
    ):
        results: Results = uvloop.run(run(services, args.idle, args.open, args.messages, args.hold))
    print(report(results))
    goals = results.idle.goals() + results.opening.goals() + results.flood.goals()
    print("\n" + conclude("sockets_scale", goals, "goals met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
