"""Sign-in overhead: admin pages signed in, against the same pages with the sign-in check off.

Migrates and seeds a small SQLite database in a temporary directory and builds two apps on it with
`create_app`: one as deployed, one whose auth provider lets every request in as the bench
superuser without reading the session cookie or the database. Times the same admin pages on both,
server-side and in-process, interleaved request by request; then an admin static file with and
without a session cookie; then each part of the sign-in check on its own. Then the same parts on
an app with REDIS_URL set (a redis-server of its own): the cache's Redis backend, with who is
signed in kept in the process, and, this process's copy dropped, read from Redis.

    python -m bench.auth_overhead [--repeats N]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.datastructures import Secret
from starlette.requests import Request
from starlette.routing import Mount
from starlette.types import Message, Receive, Scope, Send
from starlette_admin.auth import AdminUser

from app.admin.auth_provider import AccountAuthProvider
from app.auth import sessions
from app.auth.current import CurrentUser
from app.auth.sessions import SessionCookieMiddleware
from app.config import Config
from app.main import create_app
from app.statement_log import StatementLog
from bench.client import (
    BASE_URL,
    BENCH_USER,
    Side,
    in_process_client,
    running,
    sign_in,
    timed_get,
)
from bench.dataset import prepare
from bench.goals import Goal, conclude, shortfalls
from bench.stats import (
    Samples,
    Stopwatch,
    count,
    load_average,
    ms,
    ms_change,
    percentile,
    table,
)
from tests.services import RedisServer

ORDERS = 300  # the list pages need rows, not a big table: the check's cost does not grow with it
WARMUP = 10
# The goal is on p95 of a ~25 ms page: from 300 requests it moved by ±1.5 ms between runs of the
# same code on this machine, more than the check costs; 1,000 per variant holds it within ±0.5 ms.
REPEATS = 1000
PART_REPEATS = 500
GOAL_MS = 2.0
# The sign-in check on its own, who is signed in kept by the cache (app/cache.py).
CHECK_GOAL_MS = 0.3
STATIC_FILE = re.compile(r'"(?:https?://[^/"]+)?(/admin/static/[^"?]+\.js)')


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    params: dict[str, str | int] = field(default_factory=dict)
    static: bool = False  # a static file: no user lookup expected at all


# The check costs the same on every page, so the cheapest list page measures it most precisely:
# page_size=10 is the smallest the admin offers (the product list would double the run time).
PAGES = (Case("tag list", "/admin/tag/list", {"page_size": 10}),)


@dataclass
class Comparison:
    """One request timed with the sign-in check ("checked") and without it."""

    case: Case
    checked: Samples = field(default_factory=Samples)
    unchecked: Samples = field(default_factory=Samples)
    checked_sql: list[int] = field(default_factory=list)
    unchecked_sql: list[int] = field(default_factory=list)

    @property
    def overhead_p50(self) -> float:
        return self.checked.p50 - self.unchecked.p50

    @property
    def overhead_p95(self) -> float:
        return self.checked.p95 - self.unchecked.p95

    @property
    def paired_overhead_ms(self) -> float:
        """Median of (checked - unchecked) over requests sent back to back: drift cancels out."""
        pairs = zip(self.checked.durations, self.unchecked.durations, strict=True)
        return percentile([checked - unchecked for checked, unchecked in pairs], 50) * 1000

    def goals(self) -> list[Goal]:
        bench, case = "auth_overhead", self.case.name
        goals = [
            Goal(bench, case, "overhead at p50", self.overhead_p50, "ms", "<=", GOAL_MS),
            Goal(bench, case, "overhead at p95", self.overhead_p95, "ms", "<=", GOAL_MS),
        ]
        if self.case.static:
            sql = max(self.checked_sql)
            goals.append(Goal(bench, case, "SQL statements, signed in", sql, "", "==", 0))
        return goals

    def failures(self) -> list[str]:
        return shortfalls(self.goals())


# --- the app without its sign-in check -----------------------------------------------------


def auth_provider(app: Starlette) -> AccountAuthProvider:
    """The provider the admin's AuthMiddleware calls, found on the app's admin mount."""
    for route in app.routes:
        if isinstance(route, Mount) and isinstance(route.app, Starlette):
            for middleware in route.app.user_middleware:
                provider = middleware.kwargs.get("provider")
                if isinstance(provider, AccountAuthProvider):
                    return provider
    raise RuntimeError("no AccountAuthProvider on the app's admin mount")


def switch_off_sign_in(app: Starlette, user: CurrentUser) -> None:
    """Let every admin request in as `user`: no cookie read, no lifetime check, no lookup."""

    async def let_in(request: Request) -> AdminUser:
        request.state.user = user
        return AdminUser(username=user.username)

    auth_provider(app).authenticate = let_in  # type: ignore[method-assign]


# --- measuring -----------------------------------------------------------------------------


async def compare(case: Case, checked: Side, unchecked: Side, repeats: int) -> Comparison:
    outcome = Comparison(case)

    async def once(side: Side, record: bool) -> list[str]:
        timing = await timed_get(side.client, side.log, case.path, case.params)
        if not case.static and not timing.rows:
            raise RuntimeError(f"{case.name}: GET {timing.response.url} listed no rows")
        if record:
            samples, sql = (
                (outcome.checked, outcome.checked_sql)
                if side is checked
                else (outcome.unchecked, outcome.unchecked_sql)
            )
            samples.add(timing.seconds)
            sql.append(timing.statements)
        return timing.rows

    for _ in range(WARMUP):
        await once(checked, record=False)
        await once(unchecked, record=False)
    for i in range(repeats):
        # Alternate who goes first so neither always runs on a cache the other just warmed.
        first, second = (checked, unchecked) if i % 2 == 0 else (unchecked, checked)
        if await once(first, record=True) != await once(second, record=True):
            raise RuntimeError(f"{case.name}: the two variants listed different rows")
    return outcome


@dataclass
class Part:
    name: str
    samples: Samples = field(default_factory=Samples)
    db: Samples | None = None  # time inside the database driver, for parts that query


@dataclass
class CheckParts:
    """The sign-in check taken apart, each step timed on its own."""

    cookie: Part = field(default_factory=lambda: Part("session cookie: verify signature, decode"))
    no_cookie: Part = field(default_factory=lambda: Part("  same middleware, no cookie sent"))
    lifetime: Part = field(default_factory=lambda: Part("lifetime check (signed_in_user_id)"))
    lookup: Part = field(
        default_factory=lambda: Part("user + permissions lookup (load), kept", db=Samples())
    )
    unkept: Part = field(
        default_factory=lambda: Part(
            "  same, just dropped (after a change to accounts)", db=Samples()
        )
    )
    authenticate: Part = field(default_factory=lambda: Part("authenticate(): lifetime + lookup"))

    @property
    def rows(self) -> list[Part]:
        return [
            self.cookie,
            self.no_cookie,
            self.lifetime,
            self.lookup,
            self.unkept,
            self.authenticate,
        ]

    @property
    def whole_p50(self) -> float:
        return self.cookie.samples.p50 + self.authenticate.samples.p50


async def _ignore_receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _ignore_send(message: Message) -> None:
    return None


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    return None


def request_scope(path: str, cookie: str | None) -> Scope:
    headers = [(b"cookie", f"{sessions.COOKIE}={cookie}".encode())] if cookie else []
    return {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "server": (httpx.URL(BASE_URL).host, 443),
        "root_path": "",
        "path": path,
        "query_string": b"",
        "headers": headers,
    }


async def time_parts(config: Config, app: Starlette, log: StatementLog, cookie: str) -> CheckParts:
    """Each step of the sign-in check alone, on the signed-in client's own session cookie."""
    provider = auth_provider(app)
    cookie_check = SessionCookieMiddleware(
        _no_app, secret_key=str(config.secret_key), https_only=not config.debug
    )
    parts = CheckParts()
    path = PAGES[0].path
    for i in range(WARMUP + PART_REPEATS):
        record = i >= WARMUP
        session: dict[str, object] = {}
        for part, sent in ((parts.cookie, cookie), (parts.no_cookie, None)):
            scope = request_scope(path, sent)
            with Stopwatch() as watch:
                await cookie_check(scope, _ignore_receive, _ignore_send)
            if record:
                part.samples.add(watch.seconds)
            if sent:
                session = dict(scope["session"])

        with Stopwatch() as lifetime:
            user_id = sessions.signed_in_user_id(dict(session), provider.clock.now().timestamp())
        if user_id is None:
            raise RuntimeError("the signed-in client's session cookie holds no live session")

        # No page session here: the lookup opens its own pooled connection when not kept.
        provider.cache.drop_everything()
        log.reset()
        with Stopwatch() as unkept:
            user = await provider.load(user_id, session, Request(scope))
        unkept_db = log.seconds
        log.reset()
        with Stopwatch() as lookup:
            user = await provider.load(user_id, session, Request(scope))
        if user is None:
            raise RuntimeError(f"no active user {user_id} with this session's epoch")
        lookup_db = log.seconds

        # The page's formats read the app's live settings (the shop's currency).
        request = Request({**request_scope(path, None), "session": dict(session), "app": app})
        with Stopwatch() as whole:
            admin_user = await provider.authenticate(request)
        if admin_user is None:
            raise RuntimeError("authenticate() refused the signed-in client's session")

        if record:
            parts.lifetime.samples.add(lifetime.seconds)
            parts.lookup.samples.add(lookup.seconds)
            assert parts.lookup.db is not None
            parts.lookup.db.add(lookup_db)
            parts.unkept.samples.add(unkept.seconds)
            assert parts.unkept.db is not None
            parts.unkept.db.add(unkept_db)
            parts.authenticate.samples.add(whole.seconds)
    return parts


@dataclass
class Results:
    pages: list[Comparison]
    static: Comparison
    static_headers: httpx.Headers  # of the static file served to a signed-in client
    parts: CheckParts
    redis_parts: CheckParts | None = None  # the same, the cache's Redis backend (REDIS_URL)

    @property
    def redis_only_p50(self) -> float:
        """The check with no copy in the process: cookie, lifetime, the user read from Redis."""
        assert self.redis_parts is not None
        parts = self.redis_parts
        return parts.cookie.samples.p50 + parts.lifetime.samples.p50 + parts.unkept.samples.p50


async def time_redis_parts(url: str, directory: Path) -> CheckParts:
    """The sign-in check's parts on an app whose cache keeps values in Redis too."""
    redis_server = RedisServer(directory / "redis")
    redis_server.start()
    try:
        config = Config(
            database_url=url,
            secret_key=Secret("bench-secret"),
            scheduler="off",
            redis_url=redis_server.url,
        )
        app = create_app(config)
        log = StatementLog(app.state.engine)
        async with running(app), in_process_client(app) as client:
            await sign_in(client)
            cookie = client.cookies.get(sessions.COOKIE)
            if cookie is None:
                raise RuntimeError(f"signed in, but the client holds no {sessions.COOKIE} cookie")
            parts = await time_parts(config, app, log, cookie)
    finally:
        redis_server.stop()
    # time_parts drops this process's copies only: the lookup then finds the user in Redis.
    parts.lookup.name = "user + permissions lookup, kept in the process"
    parts.unkept.name = "  same, the process's copy dropped: read from Redis"
    return parts


async def run(url: str, repeats: int) -> Results:
    config = Config(database_url=url, secret_key=Secret("bench-secret"), scheduler="off")
    checked_app, unchecked_app = create_app(config), create_app(config)
    checked_log = StatementLog(checked_app.state.engine)
    unchecked_log = StatementLog(unchecked_app.state.engine)
    async with (
        running(checked_app),
        running(unchecked_app) as user_id,
        in_process_client(checked_app) as signed_in,
        in_process_client(checked_app) as signed_out,
        in_process_client(unchecked_app) as anonymous,
    ):
        await sign_in(signed_in)
        # Same app with authenticate() stubbed and no cookie sent: only the sign-in check differs.
        switch_off_sign_in(unchecked_app, CurrentUser(user_id, BENCH_USER, is_superuser=True))
        checked, unchecked = Side(signed_in, checked_log), Side(anonymous, unchecked_log)

        print(f"  load average before: {load_average()}", flush=True)
        pages = []
        for case in PAGES:
            print(f"  measuring {case.name} ...", flush=True)
            pages.append(await compare(case, checked, unchecked, repeats))

        page = await timed_get(signed_in, checked_log, PAGES[0].path, PAGES[0].params)
        found = STATIC_FILE.search(page.response.text)
        if found is None:
            raise RuntimeError(f"{PAGES[0].path} links no script under /admin/static/")
        static_case = Case(f"static {found.group(1)}", found.group(1), static=True)
        print(f"  measuring {static_case.name} ...", flush=True)
        # Both on the app as deployed: the only difference is the cookie.
        static = await compare(static_case, checked, Side(signed_out, checked_log), repeats)
        static_headers = (await signed_in.get(static_case.path)).headers

        print("  timing the sign-in check's parts ...", flush=True)
        cookie = signed_in.cookies.get(sessions.COOKIE)
        if cookie is None:
            raise RuntimeError(f"signed in, but the client holds no {sessions.COOKIE} cookie")
        parts = await time_parts(config, checked_app, checked_log, cookie)
        print(f"  load average after: {load_average()}", flush=True)
    return Results(pages, static, static_headers, parts)


# --- the report ----------------------------------------------------------------------------


def sql_counts(counts: Sequence[int]) -> str:
    low, high = min(counts), max(counts)
    return str(low) if low == high else f"{low}-{high}"


def comparison_table(comparisons: Sequence[Comparison], checked: str, unchecked: str) -> str:
    headers = [
        "case",
        f"{checked} p50",
        "p95",
        "p99",
        "SQL",
        f"{unchecked} p50",
        "p95",
        "p99",
        "SQL",
        "overhead p50",
        "p95",
        "goal",
        "result",
    ]
    rows = [
        [
            c.case.name,
            ms(c.checked.p50),
            ms(c.checked.p95),
            ms(c.checked.p99),
            sql_counts(c.checked_sql),
            ms(c.unchecked.p50),
            ms(c.unchecked.p95),
            ms(c.unchecked.p99),
            sql_counts(c.unchecked_sql),
            ms_change(c.overhead_p50),
            ms_change(c.overhead_p95),
            f"< {GOAL_MS:.0f} ms",
            "FAIL" if c.failures() else "PASS",
        ]
        for c in comparisons
    ]
    return table(headers, rows)


def parts_table(parts: CheckParts) -> str:
    rows = [
        [
            part.name,
            ms(part.samples.p50, 3),
            ms(part.samples.p95, 3),
            ms(part.samples.p99, 3),
            ms(part.db.p50, 3) if part.db else "",
        ]
        for part in parts.rows
    ]
    return table(["part", "p50", "p95", "p99", "db p50"], rows)


def report(results: Results, repeats: int) -> str:
    lines = report_in_process(results, repeats)
    if results.redis_parts is not None:
        lines += [
            f"\nThe same parts with REDIS_URL set (the cache's Redis backend), {PART_REPEATS}"
            " calls each",
            "",
            parts_table(results.redis_parts),
            f"the whole sign-in check at p50: {results.redis_parts.whole_p50:.3f} ms with the"
            f" user kept in the process; {results.redis_only_p50:.3f} ms read from Redis alone"
            f" (goal {CHECK_GOAL_MS} ms)",
        ]
    return "\n".join(lines)


def report_in_process(results: Results, repeats: int) -> list[str]:
    static = results.static
    cookies = [value.split("=", 1)[0] for value in results.static_headers.get_list("set-cookie")]
    lines = [
        "\nSign-in overhead on admin pages",
        f"latency in ms, server-side (in-process ASGI, request to full body), {repeats} requests"
        f" per variant after {WARMUP} warm-ups, interleaved; signed in = the app as deployed with"
        " a real session;\nauth off = the same app with authenticate() stubbed to a superuser and"
        " no session cookie; SQL = statements per request; overhead = signed in - auth off",
        "",
        comparison_table(results.pages, "signed in", "auth off"),
        *(
            f"{c.case.name}: median of back-to-back differences"
            f" {ms_change(c.paired_overhead_ms)} ms"
            for c in results.pages
        ),
        "\nAdmin static file, the app as deployed, signed-in client against one without cookies",
        "",
        comparison_table([static], "cookie", "no cookie"),
        f"user lookup for static files: {'skipped' if max(static.checked_sql) == 0 else 'MADE'}"
        f" ({sql_counts(static.checked_sql)} SQL statements with a session cookie); Set-Cookie"
        f" on it: {', '.join(cookies) or 'none'}; Vary: {results.static_headers.get('vary', '-')}",
        f"\nThe sign-in check's parts alone, {PART_REPEATS} calls each after {WARMUP} warm-ups"
        " (ms; db = inside the database driver)",
        "",
        parts_table(results.parts),
        f"the whole sign-in check (cookie + authenticate) at p50:"
        f" {results.parts.whole_p50:.3f} ms (goal {CHECK_GOAL_MS} ms)",
    ]
    for c in [*results.pages, static]:
        if c.failures():
            lines.append(f"FAIL {c.case.name}: {'; '.join(c.failures())}")
    return lines


def summary(results: Results) -> str:
    goals = [goal for c in [*results.pages, results.static] for goal in c.goals()]
    goals.append(
        Goal(
            "auth_overhead",
            "the sign-in check alone",
            "p50, cookie + authenticate",
            results.parts.whole_p50,
            "ms",
            "<=",
            CHECK_GOAL_MS,
        )
    )
    if results.redis_parts is not None:
        goals.append(
            Goal(
                "auth_overhead",
                "the sign-in check alone, REDIS_URL set",
                "p50, cookie + authenticate",
                results.redis_parts.whole_p50,
                "ms",
                "<=",
                CHECK_GOAL_MS,
            )
        )
    return conclude("auth_overhead", goals, "cases within their sign-in overhead goals")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.auth_overhead", description=__doc__)
    parser.add_argument("--repeats", type=count, default=REPEATS, help="timed requests per variant")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="starboard-bench-") as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'auth.sqlite'}"
        print(f"auth_overhead on SQLite, {ORDERS} orders in a temporary database", flush=True)
        # Seeding prints a throwaway admin password: nothing here is worth showing.
        prepare(url, ORDERS, echo=lambda line: None)
        results = asyncio.run(run(url, args.repeats))
        print("  timing the sign-in check's parts with REDIS_URL set ...", flush=True)
        results.redis_parts = asyncio.run(time_redis_parts(url, Path(directory)))
    print(report(results, args.repeats))
    print("\n" + summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
