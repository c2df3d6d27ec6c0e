"""What `/metrics` shows, measured in this process: one prometheus-client registry per app, so
two apps in one process (the test suite's) never count into each other.

Every process counts its own requests, statements, job runs, sockets and channel deliveries and
serves only those; a scraper asks each process (docs/reference.md, "Metrics"). Figures the app
keeps anyway (the settings version, runs under way, messages queued) are read when scraped,
never on a request's path. Names and labels are listed in docs/reference.md.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio.to_thread
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.statement_log import request_statements

# The text format generate_latest() writes (what the library itself serves it as).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
UNMATCHED = "unmatched"  # a path no route answers: one label, whatever the URL
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds: a static file in about a millisecond, a list page in tens, an export in seconds.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STATEMENT_BUCKETS = (0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100)
RUN_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)
DELAY_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 3600.0)
WAIT_BUCKETS = (0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0)
RELAY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 60.0)


class Metrics:
    """The registry and every figure in it; tells the scheduler's and the channels' watchers
    (`RunWatch`, `DeliveryWatch`) what they need."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        # The usual process figures (memory, CPU, open files, garbage collections, Python).
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.requests = Histogram(
            "starboard_http_request_duration_seconds",
            "HTTP requests served, from the first byte in to the last byte out, by route template",
            ["route", "method", "status"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.statements = Histogram(
            "starboard_http_request_sql_statements",
            "SQL statements each HTTP request sent, by route template",
            ["route"],
            buckets=STATEMENT_BUCKETS,
            registry=registry,
        )
        self.websockets = Gauge(
            "starboard_websockets_open", "WebSockets accepted and not yet closed", registry=registry
        )
        self.job_runs = Counter(
            "starboard_job_runs",
            "Job runs this process ended (or skipped, or found abandoned), by job and status",
            ["job", "status"],
            registry=registry,
        )
        self.job_durations = Histogram(
            "starboard_job_run_duration_seconds",
            "How long runs this process ran took, by job and status",
            ["job", "status"],
            buckets=RUN_BUCKETS,
            registry=registry,
        )
        self.job_delays = Histogram(
            "starboard_job_start_delay_seconds",
            "From a run's scheduled time (a manual run: its queueing) to its start, by job and "
            "trigger",
            ["job", "trigger"],
            buckets=DELAY_BUCKETS,
            registry=registry,
        )
        self.jobs_running = Gauge(
            "starboard_job_runs_running", "Runs under way in this process", registry=registry
        )
        self.channel_waits = Histogram(
            "starboard_channel_queue_wait_seconds",
            "How long a message waited in a subscriber's queue before its consumer took it",
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.relay_lag = Histogram(
            "starboard_channel_relay_lag_seconds",
            "Without Redis: from another process writing a frame to this one reading it",
            buckets=RELAY_BUCKETS,
            registry=registry,
        )
        self.resyncs = Counter(
            "starboard_channel_resyncs",
            "Subscribers told they missed messages (they reload from the database), by reason",
            ["reason"],
            registry=registry,
        )
        self.subscriptions = Gauge(
            "starboard_channel_subscriptions",
            "Channel subscribers in this process",
            registry=registry,
        )
        self.backlog = Gauge(
            "starboard_channel_backlog_messages",
            "Messages waiting in this process's subscriber queues",
            registry=registry,
        )
        self.settings_version = Gauge(
            "starboard_settings_version",
            "The live-settings version this process serves",
            registry=registry,
        )
        for reason in ("overflow", "reconnect"):
            self.resyncs.labels(reason)  # shown at 0 before the first one
        self._live: list[tuple[Gauge, Callable[[], float]]] = []
        # (route, method, status class) -> its two series: found once, not on every request.
        self._served: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    # -- read when scraped -------------------------------------------------------------------

    def follow(
        self,
        *,
        settings_version: Callable[[], float],
        subscriptions: Callable[[], Iterable[Any]],
        running_runs: Callable[[], float] | None = None,
    ) -> None:
        """Figures the app keeps anyway, read at each scrape. `subscriptions`: objects with a
        `qsize()` (the broker hub's)."""
        self._live = [
            (self.settings_version, settings_version),
            (self.subscriptions, lambda: sum(1 for _ in subscriptions())),
            (self.backlog, lambda: sum(s.qsize() for s in subscriptions())),
        ]
        if running_runs is not None:
            self._live.append((self.jobs_running, running_runs))

    async def scrape(self) -> bytes:
        """The registry in Prometheus's text format, its followed figures read first."""
        # Read in the event loop, which owns them; written out in a thread: with every route
        # seen, the text takes tens of milliseconds, which requests need not wait out.
        for gauge, read in self._live:
            gauge.set(read())
        return await anyio.to_thread.run_sync(self.exposition)

    def exposition(self) -> bytes:
        """The registry in Prometheus's text format as it stands (its metrics are thread-safe)."""
        return generate_latest(self.registry)

    # -- requests ----------------------------------------------------------------------------

    def request_served(
        self, route: str, method: str, status: int, seconds: float, statements: int
    ) -> None:
        key = (route, method if method in METHODS else "other", status // 100)
        series = self._served.get(key)
        if series is None:
            timed = self.requests.labels(key[0], key[1], f"{key[2]}xx")
            series = self._served.setdefault(key, (timed, self.statements.labels(route)))
        series[0].observe(seconds)
        series[1].observe(statements)

    # -- RunWatch (app/scheduler/runner.py) --------------------------------------------------

    def run_started(self, job: str, trigger: str, delay: float) -> None:
        self.job_delays.labels(job, trigger).observe(delay)

    def run_ended(self, job: str, status: str, seconds: float | None) -> None:
        self.job_runs.labels(job, status).inc()
        if seconds is not None:
            self.job_durations.labels(job, status).observe(seconds)

    # -- DeliveryWatch (app/channels/broker.py) ----------------------------------------------

    def waited(self, seconds: float) -> None:
        self.channel_waits.observe(seconds)

    def resynced(self, reason: str) -> None:
        self.resyncs.labels(reason).inc()

    def relayed(self, seconds: float) -> None:
        self.relay_lag.observe(max(0.0, seconds))


class RouteTemplates:
    """A matched route's full path template (`/admin/{identity}/list`), mounts included: a
    label whose values are as few as the routes, whatever URLs are asked for."""

    def __init__(self) -> None:
        self._by_route: dict[int, str] = {}

    def of(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return UNMATCHED
        if isinstance(route, Mount) and route.routes:
            return UNMATCHED  # the mount matched, none of its routes did
        found = self._by_route.get(id(route))
        if found is None:
            # Routes are all in place by the first request; read again if one came later.
            self._by_route = dict(_templates(scope["router"].routes, ""))
            found = self._by_route.setdefault(id(route), getattr(route, "path_format", UNMATCHED))
        return found


def _templates(routes: Iterable[Any], prefix: str) -> Iterable[tuple[int, str]]:
    for route in routes:
        if isinstance(route, Mount):
            if route.routes:
                yield from _templates(route.routes, prefix + route.path)
            else:  # an app of its own (static files): one label for all it serves
                yield id(route), prefix + route.path_format
        elif hasattr(route, "path_format"):
            yield id(route), prefix + route.path_format


class MetricsMiddleware:
    """Pure ASGI, outside every other layer: times each request whole, counts its statements,
    and keeps the count of open sockets."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = RouteTemplates()

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: a socket's stack, for its whole life, holds the one frame that counts it.
        if scope["type"] == "websocket":
            return self._socket(scope, receive, send)
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._timed(scope, receive, send)

    async def _timed(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500  # what the server answers for an app that fails before answering

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with request_statements() as statements:
            try:
                await self.app(scope, receive, send_noting_status)
            finally:
                self.metrics.request_served(
                    self.routes.of(scope),
                    scope["method"],
                    status,
                    time.perf_counter() - started,
                    statements[0],
                )

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        accepted = False

        async def send_noting_accept(message: Message) -> None:
            nonlocal accepted
            await send(message)
            if message["type"] == "websocket.accept" and not accepted:
                accepted = True
                self.metrics.websockets.inc()

        try:
            await self.app(scope, receive, send_noting_accept)
        finally:
            if accepted:
                self.metrics.websockets.dec()
