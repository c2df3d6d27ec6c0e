"""GET /metrics: open to loopback clients and to the METRICS_TOKEN only, in Prometheus's text
format, with each request under its route's template, its SQL statements, job runs, sockets,
channel resyncs and the live-settings version."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from app.channels import Message
from app.channels.database import DatabaseBroker
from app.channels.memory import MemoryBroker
from app.clock import FakeClock
from app.constance.records import Change
from app.main import create_app
from app.metrics import Metrics
from app.scheduler.service import JobsService
from tests.conftest import add_user, make_config, sign_in
from tests.scheduler.test_runner import ANNA, finished, jobs, schedulers

LOOPBACK = ("127.0.0.1", 50000)
ELSEWHERE = ("203.0.113.9", 50000)  # a documentation address: not this machine
TOKEN = "s3cret-metrics-token-0123456789"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the exposition, by name and labels; parsing it is the format's test."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def token_app(sqlite_url: str) -> Starlette:
    return create_app(make_config(sqlite_url, metrics_token=Secret(TOKEN)))


@pytest.fixture
def local(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver", client=LOOPBACK) as client:
        yield client


def scrape(client: TestClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text[:300]
    return response.text


def test_a_loopback_client_reads_the_metrics_in_prometheus_text_format(
    local: TestClient,
) -> None:
    response = local.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {
        "starboard_http_request_duration_seconds",
        "starboard_http_request_sql_statements",
        "starboard_job_runs",
        "starboard_job_run_duration_seconds",
        "starboard_job_start_delay_seconds",
        "starboard_websockets_open",
        "starboard_channel_queue_wait_seconds",
        "starboard_channel_resyncs",
        "starboard_settings_version",
        "process_resident_memory_bytes",
    } <= names


def test_an_ipv6_loopback_client_reads_them_too(app: Starlette) -> None:
    with TestClient(app, base_url="https://testserver", client=("::1", 50000)) as client:
        assert client.get("/metrics").status_code == 200


def test_anyone_else_gets_the_404_of_an_unknown_address_whatever_header_they_send(
    app: Starlette,
) -> None:
    with TestClient(app, base_url="https://testserver", client=ELSEWHERE) as client:
        unknown = client.get("/no-such-page")
        for headers in ({}, {"X-Forwarded-For": "127.0.0.1"}, {"Authorization": "Bearer x"}):
            refused = client.get("/metrics", headers=headers)
            assert (refused.status_code, refused.text) == (unknown.status_code, unknown.text)
            assert refused.status_code == 404 and "starboard_" not in refused.text


def test_without_a_token_set_no_bearer_token_opens_them(app: Starlette) -> None:
    assert app.state.config.metrics_token is None
    with TestClient(app, base_url="https://testserver", client=ELSEWHERE) as client:
        assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_the_token_opens_them_from_anywhere_and_a_wrong_one_does_not(
    token_app: Starlette,
) -> None:
    with TestClient(token_app, base_url="https://testserver", client=ELSEWHERE) as client:
        assert (
            client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        )
        assert (
            client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
        )
        for wrong in (
            f"Bearer {TOKEN}x",
            f"Bearer {TOKEN[:-1]}",
            f"Basic {TOKEN}",
            TOKEN,
        ):
            assert client.get("/metrics", headers={"Authorization": wrong}).status_code == 404
        latin = {"Authorization": f"Bearer {TOKEN}\xe9".encode("latin-1")}  # not ASCII: refused
        assert client.get("/metrics", headers=latin).status_code == 404


def test_a_request_is_counted_under_its_route_template_with_its_statements(
    sqlite_url: str, app: Starlette, local: TestClient
) -> None:
    add_user(sqlite_url, "admin")
    sign_in(local, "admin")
    before = scrape(local)
    route = "/admin/{key}/list"
    assert local.get("/admin/product/list").status_code == 200
    assert local.get("/admin/tag/list").status_code == 200
    assert local.get("/healthz").status_code == 200
    assert local.get("/no/such/thing/42").status_code == 404
    after = scrape(local)
    name = "starboard_http_request_duration_seconds_count"
    assert value(after, name, route=route, method="GET", status="2xx") == (
        value(before, name, route=route, method="GET", status="2xx") + 2
    )
    assert value(after, name, route="/healthz", method="GET", status="2xx") == 1
    assert value(after, name, route="unmatched", method="GET", status="4xx") == 1
    # Never a raw URL as a label: the label's values are as few as the routes.
    assert "/admin/product/list" not in after and "/no/such/thing" not in after
    statements = "starboard_http_request_sql_statements"
    assert value(after, f"{statements}_count", route="/healthz") == 1
    assert value(after, f"{statements}_sum", route="/healthz") == 1  # its SELECT 1
    # Each list page: the rows, the count, the saved views (tests/test_cost_budgets.py); who is
    # signed in was kept by the cache when signing in led to the dashboard.
    listed = value(after, f"{statements}_sum", route=route) - value(
        before, f"{statements}_sum", route=route
    )
    assert listed == 6


def test_a_static_file_counts_under_its_mount_and_sends_no_statement(local: TestClient) -> None:
    assert local.get("/static/starboard.css").status_code == 200
    after = scrape(local)
    statements = "starboard_http_request_sql_statements"
    assert value(after, f"{statements}_count", route="/static/{path}") == 1
    assert value(after, f"{statements}_sum", route="/static/{path}") == 0


def test_the_settings_version_gauge_follows_a_change(
    sqlite_url: str, app: Starlette, local: TestClient
) -> None:
    before = value(scrape(local), "starboard_settings_version")
    assert before == app.state.settings_store.version

    async def save() -> None:
        await app.state.settings_store.save([Change("LOW_STOCK_THRESHOLD", 7)], ANNA)

    local.portal.call(save)  # type: ignore[union-attr]
    assert value(scrape(local), "starboard_settings_version") == before + 1


def test_open_sockets_are_counted_while_open(sqlite_url: str, app: Starlette) -> None:
    add_user(sqlite_url, "admin")
    with TestClient(app, base_url="https://testserver", client=LOOPBACK) as client:
        sign_in(client, "admin")
        with client.websocket_connect("wss://testserver/ws") as socket:
            socket.receive_json()  # the first frame: accepted and served
            assert value(scrape(client), "starboard_websockets_open") == 1
        assert value(scrape(client), "starboard_websockets_open") == 0


async def test_a_subscriber_that_overflows_is_counted_as_a_resync_and_its_wait_measured() -> None:
    metrics = Metrics()
    broker = MemoryBroker(metrics)
    metrics.follow(settings_version=lambda: 0, subscriptions=broker.hub.everyone)
    slow = await broker.subscribe(["orders"], limit=2)
    for n in range(3):
        await broker.publish("orders", {"n": n})
    assert (await slow.get()).data == {"type": "missed"}
    await broker.publish("orders", {"n": 4})
    assert value((await metrics.scrape()).decode(), "starboard_channel_backlog_messages") == 1
    assert await slow.get() == Message("orders", {"n": 4})
    slow.lose_backlog()  # what a reconnect does to every subscriber
    text = metrics.exposition().decode()
    assert value(text, "starboard_channel_resyncs_total", reason="overflow") == 1
    assert value(text, "starboard_channel_resyncs_total", reason="reconnect") == 1
    assert value(text, "starboard_channel_queue_wait_seconds_count") == 1


async def test_job_runs_are_counted_by_job_and_status_with_durations_and_delays(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    metrics = Metrics()
    broker = MemoryBroker()  # shared: the service's messages wake the scheduler
    definitions = jobs("yearly", "broken")
    async with schedulers(session_factory, definitions, broker=broker) as (scheduler,):
        scheduler.watch = metrics
        service = JobsService(definitions, session_factory, broker)
        ran = await finished(session_factory, await service.run_now("yearly", ANNA))
        failed = await finished(session_factory, await service.run_now("broken", ANNA))
    assert (ran.status, failed.status) == ("succeeded", "failed")
    text = metrics.exposition().decode()
    assert value(text, "starboard_job_runs_total", job="yearly", status="succeeded") == 1
    assert value(text, "starboard_job_runs_total", job="broken", status="failed") == 1
    assert value(text, "starboard_job_runs_total", job="yearly", status="failed") == 0
    assert (
        value(text, "starboard_job_run_duration_seconds_count", job="broken", status="failed") == 1
    )
    assert (
        value(text, "starboard_job_start_delay_seconds_count", job="yearly", trigger="manual") == 1
    )


def test_an_app_without_metrics_has_no_endpoint_and_counts_nothing(sqlite_url: str) -> None:
    app = create_app(make_config(sqlite_url, metrics=False))
    with TestClient(app, base_url="https://testserver", client=LOOPBACK) as client:
        assert client.get("/metrics").status_code == 404
    assert app.state.metrics is None


def test_two_apps_in_one_process_count_apart(sqlite_url: str) -> None:
    first, second = create_app(make_config(sqlite_url)), create_app(make_config(sqlite_url))
    with (
        TestClient(first, base_url="https://testserver", client=LOOPBACK) as one,
        TestClient(second, base_url="https://testserver", client=LOOPBACK) as other,
    ):
        one.get("/healthz")
        name = "starboard_http_request_duration_seconds_count"
        assert value(scrape(one), name, route="/healthz", method="GET", status="2xx") == 1
        assert value(scrape(other), name, route="/healthz", method="GET", status="2xx") == 0


async def test_a_frame_from_another_process_is_measured_from_written_to_read(
    engine: AsyncEngine,
) -> None:
    clock = FakeClock(dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC))
    metrics = Metrics()
    here, there = DatabaseBroker(engine, clock, metrics), DatabaseBroker(engine, clock)
    await here.read()  # from the newest row on
    tab = await here.subscribe(["all"])
    await there.publish("all", {"n": 1})  # written at 08:00:00 on the shared clock
    await here.publish("all", {"n": 2})  # its own: delivered at once, never read back
    await clock.advance(0.75)
    await here.read()
    assert [(await tab.get()).data for _ in range(2)] == [{"n": 2}, {"n": 1}]
    text = metrics.exposition().decode()
    assert value(text, "starboard_channel_relay_lag_seconds_count") == 1
    assert value(text, "starboard_channel_relay_lag_seconds_sum") == pytest.approx(0.75)
    assert value(text, "starboard_channel_queue_wait_seconds_count") == 2


def test_behind_a_listed_proxy_on_this_machine_the_client_it_names_is_the_one_let_in_or_not(
    sqlite_url: str,
) -> None:
    app = create_app(make_config(sqlite_url, forwarded_allow_ips=("127.0.0.1",)))
    with TestClient(app, base_url="https://testserver", client=LOOPBACK) as proxy:
        # A remote client's request through the proxy: refused, whatever it wrote itself.
        for forwarded in ("203.0.113.9", "127.0.0.1, 203.0.113.9"):
            relayed = proxy.get("/metrics", headers={"X-Forwarded-For": forwarded})
            assert relayed.status_code == 404
        # A scraper on this machine, straight to the app: let in.
        assert proxy.get("/metrics").status_code == 200
