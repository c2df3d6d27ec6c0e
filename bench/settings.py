"""Live settings: the cost of one read against a Redis GET, and save-to-every-process latency.

- One read: `live.KEY` and `constance.settings.KEY` timed with timeit in batches (ns per read, the
  median and p99 of the batches), against one GET per read on a real redis-server in the same run,
  which is what django-constance's default Redis backend does on every read: redis-py's asyncio
  client (awaited, on uvloop as uvicorn runs) and its sync client.
- Propagation: three uvicorn processes on one PostgreSQL database (the bench cluster in
  var/bench/pg, a fresh database each run). A save in this process (SettingsStore.save: value,
  history, audit and version in one transaction, then a publish, as the CLI's `settings set`
  does) is timed until all three report the new `settings_version` on /healthz, polled in a tight
  loop. First through Redis (REDIS_URL set), then through the version check alone (no REDIS_URL:
  the default check every 2 s).

    python -m bench.settings [--batches N] [--saves N] [--check-saves N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
import timeit
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
import redis.asyncio
import uvloop
from sqlalchemy import text

from app import constance, schema
from app.auth.current import Actor
from app.channels import Broker
from app.channels.memory import MemoryBroker
from app.channels.redis import REDIS_OPTIONS, RedisBroker
from app.constance import LiveSettings
from app.constance.hooks import load_declarations
from app.constance.records import Change
from app.constance.store import CHECK_INTERVAL_S, SettingsStore
from app.db import create_engine, create_session_factory
from bench.dataset import BENCH_DIR
from bench.goals import Goal, conclude, shortfalls
from bench.postgres import PostgresUnavailable, running_postgres
from bench.processes import start_uvicorn
from bench.stats import Samples, count, load_average, ms, percentile, table
from tests.services import RedisServer, UvicornServer

KEY = "LOW_STOCK_THRESHOLD"
REDIS_KEY = f"constance:{KEY}"  # django-constance's default prefix
BATCHES = 200
READS_PER_BATCH = 100_000
GETS_PER_BATCH = 200
GET_BATCHES = 40
SAVES = 50
CHECK_SAVES = 20
WARMUP_SAVES = 3
PROCESSES = 3
PAUSE_S = 0.05  # between two saves: one change in flight at a time
CHECK_POLL_PAUSE_S = 0.005  # seconds-long waits need no tighter polling than this
SEEN_TIMEOUT_S = 15.0
DATABASE = "starboard_settings"
ACTOR = Actor(user_id=None, username="bench", client_address=None)

READ_GOAL_NS = 1000.0
CHEAPER_GOAL = 50.0
REDIS_GOAL_MS = 200.0
CHECK_GOAL_MS = 5000.0


# --- one read ----------------------------------------------------------------------------


@dataclass
class PerOp:
    """Seconds per operation, one figure per batch."""

    name: str
    batches: list[float] = field(default_factory=list)

    def ns(self, pct: float) -> float:
        return percentile(self.batches, pct) * 1e9


def time_reads(batches: int) -> list[PerOp]:
    live = LiveSettings(load_declarations("app.live_settings").declared)
    constance.install(live)
    cases = [
        ("live.KEY (an attribute of the app's LiveSettings)", f"live.{KEY}"),
        ("constance.settings.KEY (through the module)", f"constance.settings.{KEY}"),
        ("baseline: a dict lookup d[KEY]", f"d[{KEY!r}]"),
        ("baseline: timeit's own loop (pass)", "pass"),
    ]
    names = {"live": live, "constance": constance, "d": live.as_dict()}
    results = []
    for name, statement in cases:
        timer = timeit.Timer(statement, globals=names)
        timer.timeit(READS_PER_BATCH)  # warm-up
        per_op = [t / READS_PER_BATCH for t in timer.repeat(batches, READS_PER_BATCH)]
        results.append(PerOp(name, per_op))
    return results


async def time_async_gets(url: str, batches: int) -> PerOp:
    client = redis.asyncio.from_url(url, **REDIS_OPTIONS)
    result = PerOp("Redis GET, redis.asyncio (awaited, uvloop)")
    try:
        await client.set(REDIS_KEY, "10")
        for _ in range(GETS_PER_BATCH):
            await client.get(REDIS_KEY)
        for _ in range(batches):
            started = time.perf_counter()
            for _ in range(GETS_PER_BATCH):
                await client.get(REDIS_KEY)
            result.batches.append((time.perf_counter() - started) / GETS_PER_BATCH)
    finally:
        await client.aclose()
    return result


def time_sync_gets(url: str, batches: int) -> PerOp:
    client = redis.Redis.from_url(url, **REDIS_OPTIONS)
    try:
        client.set(REDIS_KEY, "10")
        timer = timeit.Timer(lambda: client.get(REDIS_KEY))
        timer.timeit(GETS_PER_BATCH)
        per_op = [t / GETS_PER_BATCH for t in timer.repeat(batches, GETS_PER_BATCH)]
    finally:
        client.close()
    return PerOp("Redis GET, redis.Redis (sync, as django-constance)", per_op)


# --- propagation ---------------------------------------------------------------------------


@dataclass
class Propagation:
    name: str
    goal_ms: float
    every: Samples = field(default_factory=Samples)  # save() called to all three seeing it
    first: Samples = field(default_factory=Samples)  # ... to the first process seeing it
    save: Samples = field(default_factory=Samples)  # the save() call alone (commit + publish)

    def goals(self) -> list[Goal]:
        case = self.name.split(" (")[0]
        return [
            Goal("settings", case, "save to all 3, p99", self.every.p99, "ms", "<=", self.goal_ms)
        ]

    def failures(self) -> list[str]:
        return shortfalls(self.goals())


async def sees(
    client: httpx.AsyncClient, server: UvicornServer, version: int, pause: float
) -> float:
    """When (perf_counter) the process first reported at least `version` on /healthz."""
    while True:
        response = await client.get(f"{server.base_url}/healthz")
        if response.json()["settings_version"] >= version:
            return time.perf_counter()
        await asyncio.sleep(pause)


async def propagate(
    name: str,
    goal_ms: float,
    database_url: str,
    broker: Broker,
    servers: Sequence[UvicornServer],
    saves: int,
    poll_pause: float,
    save_pause: float,
) -> Propagation:
    result = Propagation(name, goal_ms)
    engine = create_engine(database_url)
    declared = load_declarations("app.live_settings").declared
    store = SettingsStore(declared, LiveSettings(declared), create_session_factory(engine), broker)
    try:
        await store.reload(None, None)  # only saves, never listens: no start()
        async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
            for i in range(WARMUP_SAVES + saves):
                target = store.version + 1
                started = time.perf_counter()
                await store.save([Change(KEY, 11 + (store.version + i) % 10_000)], ACTOR)
                saved = time.perf_counter()
                if store.version != target:
                    raise RuntimeError(f"expected version {target}, saved {store.version}")
                # Polled once saved: the publish is save()'s last step, so nothing is missed,
                # and the polling does not slow down the save it times.
                async with asyncio.timeout(SEEN_TIMEOUT_S):
                    seen = await asyncio.gather(
                        *(sees(client, s, target, poll_pause) for s in servers)
                    )
                if i >= WARMUP_SAVES:
                    result.save.add(saved - started)
                    result.every.add(max(seen) - started)
                    result.first.add(min(seen) - started)
                await asyncio.sleep(random.uniform(PAUSE_S, max(save_pause, PAUSE_S)))
    finally:
        await engine.dispose()
    return result


@contextlib.contextmanager
def processes(env: dict[str, str], directory: Path, label: str) -> Iterator[list[UvicornServer]]:
    servers: list[UvicornServer] = []
    try:
        for n in range(PROCESSES):
            servers.append(start_uvicorn(env, directory / f"uvicorn-{label}-{n}.log"))
        yield servers
    finally:
        for server in servers:
            server.stop()


@contextlib.asynccontextmanager
async def redis_broker(url: str) -> AsyncIterator[RedisBroker]:
    client = redis.asyncio.from_url(url, **REDIS_OPTIONS)
    try:
        yield RedisBroker(client)  # publishing needs no subscription, as in the CLI
    finally:
        await client.aclose()


async def through_redis(
    database_url: str, redis_url: str, servers: list[UvicornServer], saves: int
) -> Propagation:
    async with redis_broker(redis_url) as broker:
        name = "through Redis (REDIS_URL set)"
        return await propagate(
            name, REDIS_GOAL_MS, database_url, broker, servers, saves, 0.0, PAUSE_S
        )


async def fresh_database(server_url: str) -> str:
    engine = create_engine(f"{server_url}/postgres", isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    finally:
        await engine.dispose()
    return f"{server_url}/{DATABASE}"


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Results:
    reads: list[PerOp]
    gets: list[PerOp]
    propagation: list[Propagation]


def run(args: argparse.Namespace, directory: Path) -> Results:
    print(f"  load average before: {load_average()}", flush=True)
    redis_server = RedisServer(directory / "redis")
    redis_server.start()
    try:
        print("  one read, against a Redis GET ...", flush=True)
        reads = time_reads(args.batches)
        gets = [
            uvloop.run(time_async_gets(redis_server.url, GET_BATCHES)),
            time_sync_gets(redis_server.url, GET_BATCHES),
        ]
        with running_postgres(BENCH_DIR / "pg") as server_url:
            database_url = uvloop.run(fresh_database(server_url))
            schema.upgrade(database_url, quiet=True)
            base = {"DATABASE_URL": database_url, "SCHEDULER": "off"}
            print(f"  {PROCESSES} processes, {args.saves} saves through Redis ...", flush=True)
            with_redis = {**base, "REDIS_URL": redis_server.url}
            with processes(with_redis, directory, "redis") as servers:
                fast = uvloop.run(
                    through_redis(database_url, redis_server.url, servers, args.saves)
                )
            print(
                f"  {PROCESSES} processes, {args.check_saves} saves, version check alone ...",
                flush=True,
            )
            with processes(base, directory, "check") as servers:
                name = f"version check alone (no Redis, every {CHECK_INTERVAL_S:.0f} s)"
                work = propagate(
                    name,
                    CHECK_GOAL_MS,
                    database_url,
                    MemoryBroker(),
                    servers,
                    args.check_saves,
                    CHECK_POLL_PAUSE_S,
                    # Saves at random points of the check cycle, not right after a check.
                    CHECK_INTERVAL_S,
                )
                slow = uvloop.run(work)
    finally:
        redis_server.stop()
    print(f"  load average after: {load_average()}", flush=True)
    return Results(reads, gets, [fast, slow])


# --- the report ------------------------------------------------------------------------------


def read_goals(results: Results) -> list[Goal]:
    read = results.reads[0]
    goals = [Goal("settings", "read cost", "p99", read.ns(99), "ns", "<=", READ_GOAL_NS)]
    for get in results.gets:
        client = get.name.split(",")[1].split("(")[0].strip()
        times = get.ns(50) / read.ns(50)
        goals.append(
            Goal(
                "settings",
                f"read vs {client}",
                "GET / read (median)",
                times,
                "x",
                ">=",
                CHEAPER_GOAL,
            )
        )
    return goals


def read_table(results: Results) -> str:
    read = results.reads[0]
    headers = ["one read", "median ns", "p99 ns", "GET / read (median)"]
    rows = [[r.name, f"{r.ns(50):.1f}", f"{r.ns(99):.1f}", ""] for r in results.reads]
    rows += [
        [g.name, f"{g.ns(50):,.0f}", f"{g.ns(99):,.0f}", f"{g.ns(50) / read.ns(50):,.0f}x"]
        for g in results.gets
    ]
    return table(headers, rows)


def propagation_table(results: Results) -> str:
    headers = ["save to all 3 processes", "saves", "save()", "first p50", "p50", "p99", "max"]
    headers += ["goal", "result"]
    rows = [
        [
            p.name,
            str(len(p.every.durations)),
            ms(p.save.p50),
            ms(p.first.p50),
            ms(p.every.p50),
            ms(p.every.p99),
            ms(p.every.ms(100)),
            f"p99 <= {p.goal_ms:.0f} ms",
            "FAIL" if p.failures() else "PASS",
        ]
        for p in results.propagation
    ]
    return table(headers, rows)


def report(results: Results, batches: int) -> str:
    return "\n".join(
        [
            f"\nOne read in ns: {batches} batches of {READS_PER_BATCH:,} reads (timeit), and"
            f" {GET_BATCHES} batches of {GETS_PER_BATCH} GETs on a local redis-server; the"
            " first row is the one with the goal"
            f" (<= {READ_GOAL_NS:.0f} ns, >= {CHEAPER_GOAL:.0f}x cheaper than either GET)",
            "",
            read_table(results),
            f"\nPropagation in ms: a save in this process ({KEY}) until every one of"
            f" {PROCESSES} uvicorn processes on one PostgreSQL database reports the new"
            " settings_version on /healthz (polled from when save() returns: in a tight loop"
            f" through Redis, every {CHECK_POLL_PAUSE_S * 1000:.0f} ms without; saves"
            f" {PAUSE_S * 1000:.0f} ms apart through Redis, at random points of the check"
            " cycle without); save() = the call alone; first = the first process to report it",
            "",
            propagation_table(results),
        ]
    )


def summary(results: Results) -> str:
    goals = read_goals(results) + [goal for p in results.propagation for goal in p.goals()]
    return conclude("settings", goals, "goals met")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.settings", description=__doc__)
    parser.add_argument("--batches", type=count, default=BATCHES, help="timeit batches of reads")
    parser.add_argument("--saves", type=count, default=SAVES, help="saves timed through Redis")
    parser.add_argument(
        "--check-saves", type=count, default=CHECK_SAVES, help="saves timed without Redis"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"settings: reads against Redis GETs; {PROCESSES} uvicorn processes on PostgreSQL,"
        " with and without redis-server",
        flush=True,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="starboard-bench-") as directory:
            results = run(args, Path(directory))
    except PostgresUnavailable as exc:
        print(f"settings skipped: {exc}")
        return 0
    print(report(results, args.batches))
    print("\n" + summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
