"""A big list's Export runs as a job: the file holds exactly the filtered list, only its
requester (still holding `<model>:export`) downloads it, and a stopped export leaves no file."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import html
import io
import json
import os
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import pytest
from sqlalchemy import select, update
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.clock import FakeClock
from app.db import create_engine, create_session_factory
from app.exports.files import ExportFiles
from app.exports.jobs import export_list, exporting_user, purge_exports, views_by_key
from app.exports.links import ExportTicket
from app.exports.rows import ListRows, export_fields, export_request
from app.exports.writers import RelatedCell
from app.main import create_app
from app.models import Group, JobRun, Notification, OrderStatus
from app.models.jobs import RunStatus
from app.scheduler import JobCancelled, JobContext
from app.services import Services, build_services, open_services
from tests import factories
from tests.conftest import add_user, csrf_token, in_session, make_config, sign_in

FORMULA = '=HYPERLINK("http://evil.example","x")'
PAID = "status__exact=paid"
WAIT_S = 20.0


def seed(url: str) -> None:
    """Orders of three customers, one named like a formula; paid and pending ones."""

    async def work() -> None:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine).begin() as session:
                goods = [factories.product(price=Decimal("12.50"))]
                buyers = [
                    factories.customer(name=FORMULA),
                    factories.customer(name="Ada Lovelace"),
                    factories.customer(name="-Minus"),
                ]
                for n in range(18):
                    status = OrderStatus.PAID if n % 2 else OrderStatus.PENDING
                    session.add(factories.order(buyers[n % 3], goods, status=status))
                session.add_all(goods)
        finally:
            await engine.dispose()

    anyio.run(work)


on_database = in_session  # a committed transaction of its own, outside the app


@pytest.fixture
def exports_dir(tmp_path: Path) -> Path:
    return tmp_path / "exports"


@pytest.fixture
def shop(database_url: str) -> str:
    seed(database_url)
    add_user(database_url, "admin")
    add_user(
        database_url, "clerk", superuser=False, groups={"clerks": ["order:view", "order:export"]}
    )
    add_user(database_url, "other", superuser=False, permissions=["order:view", "order:export"])
    return database_url


@pytest.fixture
def app(shop: str, exports_dir: Path) -> Starlette:
    # The embedded scheduler runs the queued export in the app's own event loop.
    return create_app(make_config(shop, scheduler="embedded", exports_dir=exports_dir))


AsUser = Callable[[str], TestClient]


@pytest.fixture
def as_user(app: Starlette) -> Iterator[AsUser]:
    """`as_user(name)`: the app's one client, signed in afresh as that user (one client: the
    app's services live in its one event loop)."""
    with TestClient(app, base_url="https://testserver") as client:

        def switch(username: str) -> TestClient:
            client.cookies.clear()
            sign_in(client, username)
            return client

        yield switch


def export(
    client: TestClient,
    fmt: str,
    list_query: str = PAID,
    *,
    background: bool = False,
    every_row: bool = False,
    fields: tuple[str, ...] = (),
    filename: str | None = None,
) -> Any:
    token = csrf_token(client.get(f"/admin/order/list?{list_query}").text)
    query = {"name": "export", "_list_query": f"?{list_query}"}
    if every_row:
        query["all"] = "1"
    data: dict[str, Any] = {
        "csrftoken": token,
        "format": fmt,
        "scope": "selected" if every_row else "page",
        "fields": list(fields),
    }
    if background:
        data["background"] = "1"
    if filename is not None:
        data["filename"] = filename
    return client.post(
        f"/admin/_api/order/action?{urlencode(query)}",
        data=data,
        headers={"X-CSRFToken": token},
        follow_redirects=False,
    )


def finished_run(url: str, run_id: int) -> JobRun:
    deadline = time.monotonic() + WAIT_S
    while True:
        run = on_database(url, lambda session: session.get(JobRun, run_id))
        if run is not None and run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run and run.status}"
        time.sleep(0.05)


def exported_in_background(client: TestClient, url: str, fmt: str, **options: Any) -> JobRun:
    queued = export(client, fmt, background=True, **options)
    assert queued.status_code == 303, queued.text[:300]
    run = finished_run(url, int(queued.headers["X-Export-Run"]))
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run


def sheet_rows(content: bytes) -> list[list[str]]:
    """An XLSX file's first sheet as text, read from its XML (xlsxwriter only writes)."""
    with zipfile.ZipFile(io.BytesIO(content)) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
        names = book.namelist()
        shared = (
            re.findall(r"<t[^>]*>(.*?)</t>", book.read("xl/sharedStrings.xml").decode(), re.S)
            if "xl/sharedStrings.xml" in names
            else []
        )
    rows = []
    for row in re.findall(r"<row[^>]*>(.*?)</row>", sheet, re.S):
        cells = []
        for attributes, body in re.findall(r"<c([^>]*)>(.*?)</c>", row, re.S):
            assert "<f>" not in body  # no cell is a formula
            value = re.search(r"<v>(.*?)</v>|<t[^>]*>(.*?)</t>", body, re.S)
            text = (value.group(1) or value.group(2)) if value else ""
            cells.append(html.unescape(shared[int(text)] if 't="s"' in attributes else text))
        rows.append(cells)
    return rows


def paid_ids(url: str) -> list[str]:
    from app.models import Order

    ids = on_database(
        url,
        lambda session: session.scalars(
            select(Order.id).where(Order.status == OrderStatus.PAID).order_by(Order.id.desc())
        ),
    )
    return [str(i) for i in ids]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_background_export_holds_exactly_what_the_instant_export_of_the_list_holds(
    shop: str, as_user: AsUser, exports_dir: Path, fmt: str
) -> None:
    clerk = as_user("clerk")
    instant = export(clerk, fmt)
    assert instant.status_code == 200, instant.text[:300]
    run = exported_in_background(clerk, shop, fmt)
    download = clerk.get(run.arguments["link"])
    assert download.status_code == 200
    assert download.content == instant.content
    assert download.headers["content-disposition"] == f'attachment; filename="order.{fmt}"'
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(download.text, newline="")))
        assert rows[0] == [
            "Id",
            "Status",
            "Total",
            "Shipped at",
            "Created at",
            "Customer",
            "Customer id",
        ]
        assert [row[0] for row in rows[1:]] == paid_ids(shop)
        assert {row[1] for row in rows[1:]} == {"Paid"}
        customers = {row[5].split(" <")[0] for row in rows[1:]}
        assert customers == {"'" + FORMULA, "Ada Lovelace", "'-Minus"}  # neutralised as text
    else:
        rows = json.loads(download.content)
        assert [str(row["Id"]) for row in rows] == paid_ids(shop)
        # JSON keeps the text as it is.
        assert {row["Customer"].split(" <")[0] for row in rows} == {
            FORMULA,
            "Ada Lovelace",
            "-Minus",
        }
    assert [p.name for p in exports_dir.iterdir()] == [run.arguments["file"]]  # no partial left


def test_a_background_export_is_saved_under_the_typed_name_made_plain(
    shop: str, as_user: AsUser
) -> None:
    """As the instant export is (tests/admin/test_exports.py): accents off, the rest dropped."""
    clerk = as_user("clerk")
    run = exported_in_background(clerk, shop, "csv", filename="Umsätze €\x00")
    download = clerk.get(run.arguments["link"])
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="Umsatze.csv"'


def test_a_background_xlsx_export_holds_the_filtered_list_as_text_and_number_cells(
    shop: str, as_user: AsUser
) -> None:
    clerk = as_user("clerk")
    instant = export(clerk, "xlsx")
    assert instant.status_code == 200, instant.text[:300]
    run = exported_in_background(clerk, shop, "xlsx", fields=("id", "customer", "total"))
    download = clerk.get(run.arguments["link"])
    assert download.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    rows = sheet_rows(download.content)
    assert rows[0] == ["Id", "Total", "Customer", "Customer id"]
    assert [row[0] for row in rows[1:]] == paid_ids(shop)
    customers = {row[rows[0].index("Customer")].split(" <")[0] for row in rows[1:]}
    assert customers == {FORMULA, "Ada Lovelace", "-Minus"}  # text cells, never formulas
    with zipfile.ZipFile(io.BytesIO(download.content)) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert re.findall(r'<c r="B2"([^>]*)>', sheet) == [""]  # an untyped cell: a number
    totals = {Decimal(row[rows[0].index("Total")]) for row in rows[1:]}
    assert totals == {Decimal("12.5")}
    # The instant XLSX of the same list holds the same cells.
    assert [row[0] for row in sheet_rows(instant.content)[1:]] == paid_ids(shop)


def test_the_requester_is_notified_with_the_download_link_and_the_run_reaches_the_end(
    shop: str, as_user: AsUser
) -> None:
    run = exported_in_background(as_user("clerk"), shop, "csv")
    assert run.progress == 1.0
    assert f"wrote {len(paid_ids(shop))} rows" in run.log
    notes = on_database(
        shop,
        lambda session: session.scalars(
            select(Notification).where(Notification.link == run.arguments["link"])
        ),
    )
    notes = list(notes)
    assert len(notes) == 1
    assert notes[0].title == f"Your order export is ready ({len(paid_ids(shop))} rows, CSV)"
    assert run.arguments["link"].startswith("/admin/exports/")


def test_the_page_answers_at_once_naming_the_run_it_follows_at(shop: str, as_user: AsUser) -> None:
    clerk = as_user("clerk")
    form = clerk.get("/admin/order/list").text
    assert "data-sb-export-background" in form  # the export form's box
    assert "Every matching row, in the background" in form
    queued = export(clerk, "csv", background=True)
    assert queued.status_code == 303
    page = clerk.get(queued.headers["location"])
    run_link = f"/admin/jobs/export_list/runs/{queued.headers['X-Export-Run']}"
    assert queued.headers["X-Export-Run-Link"] == run_link
    assert (
        f"Export started: you&#39;ll be notified with a download link; follow it at {run_link}"
        in page.text
    )
    finished_run(shop, int(queued.headers["X-Export-Run"]))


def test_only_the_requester_still_holding_order_export_or_a_superuser_downloads_the_file(
    shop: str, as_user: AsUser
) -> None:
    link = exported_in_background(as_user("clerk"), shop, "csv").arguments["link"]
    assert as_user("clerk").get(link).status_code == 200
    refused = as_user("other").get(link)  # holds order:export, but did not ask for it
    assert refused.status_code == 403
    assert "This export was made for clerk, not for you." in refused.text
    assert as_user("admin").get(link).status_code == 200
    on_database(
        shop,
        lambda session: session.execute(
            update(Group).where(Group.name == "clerks").values(permissions=["order:view"])
        ),
    )
    clerk = as_user("clerk")
    clerk.app.state.cache.drop_everything()  # type: ignore[attr-defined]  # behind its back
    revoked = clerk.get(link)
    assert revoked.status_code == 403
    assert "Downloading this export needs order:export." in revoked.text


def test_a_tampered_or_made_up_token_is_a_404_and_a_missing_file_too(
    shop: str, as_user: AsUser, exports_dir: Path
) -> None:
    clerk = as_user("clerk")
    run = exported_in_background(clerk, shop, "csv")
    link = run.arguments["link"]
    token = link.rsplit("/", 1)[1]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert clerk.get(f"/admin/exports/{tampered}").status_code == 404
    assert clerk.get("/admin/exports/not-a-token").status_code == 404
    (exports_dir / run.arguments["file"]).unlink()
    gone = clerk.get(link)
    assert gone.status_code == 404
    assert "This export&#39;s file is not there" in gone.text


def test_a_link_older_than_the_retention_is_gone_410(sqlite_url: str, exports_dir: Path) -> None:
    add_user(sqlite_url, "admin")
    clock = FakeClock()
    app = create_app(make_config(sqlite_url, exports_dir=exports_dir), clock=clock)
    with TestClient(app, base_url="https://testserver") as client:
        sign_in(client, "admin")
        name = ExportFiles.new_name("order", "csv", clock.now())
        exports_dir.mkdir()
        (exports_dir / name).write_text("Id\n1\n")
        links = app.state.admin.app.state.export_links  # type: ignore[attr-defined]
        link = "/admin/exports/" + links.token(ExportTicket(name, "order", "admin", "order.csv"))
        assert client.get(link).text == "Id\n1\n"
        client.portal.call(clock.advance, 24 * 3600 + 1)  # type: ignore[union-attr]
        client.cookies.clear()  # a day later the sign-in has lapsed too
        sign_in(client, "admin")
        expired = client.get(link)
        assert expired.status_code == 410
        assert "This download link has expired: exports are kept 24 hours." in expired.text


def test_an_export_of_every_matching_row_stays_instant_below_the_threshold_and_queues_above(
    shop: str, exports_dir: Path, cli: Any
) -> None:
    app = create_app(make_config(shop, scheduler="embedded", exports_dir=exports_dir))
    with TestClient(app, base_url="https://testserver") as clerk:
        sign_in(clerk, "clerk")
        small = export(clerk, "csv", every_row=True)  # 12 paid orders, threshold 10,000
        assert small.status_code == 200
        assert small.headers["content-type"].startswith("text/csv")
        assert len(small.text.splitlines()) == len(paid_ids(shop)) + 1
    assert cli(shop, "settings", "set", "EXPORT_IN_BACKGROUND_ROWS", "5").code == 0
    app = create_app(make_config(shop, scheduler="embedded", exports_dir=exports_dir))
    with TestClient(app, base_url="https://testserver") as clerk:
        sign_in(clerk, "clerk")
        big = export(clerk, "csv", every_row=True)
        assert big.status_code == 303
        run = finished_run(shop, int(big.headers["X-Export-Run"]))
        assert run.status == RunStatus.SUCCEEDED
        assert clerk.get(run.arguments["link"]).content == small.content
        # One page stays instant whatever the threshold.
        assert export(clerk, "csv").status_code == 200


def left_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def written_ago(
    directory: Path, now: dt.datetime, age: tuple[float, str], name: str | None = None
) -> str:
    """A file last written `age[0]` hours before `now`, named as an export (+ `age[1]`)."""
    hours, suffix = age
    directory.mkdir(exist_ok=True)
    path = directory / (name or ExportFiles.new_name("order", "csv", now) + suffix)
    path.write_text("Id\n")
    stamp = (now - dt.timedelta(hours=hours)).timestamp()
    os.utime(path, (stamp, stamp))
    return path.name


# -- the job itself ------------------------------------------------------------------------


def job_context(services: Services, arguments: dict[str, Any], by: str | None) -> JobContext:
    async def report(fraction: float | None, message: str | None) -> None:
        reports.append(fraction)

    reports: list[float | None] = []
    loop = asyncio.get_running_loop()
    context = JobContext(
        job="export_list",
        run_id=1,
        scheduled_for=services.clock.now(),
        session_factory=services.session_factory,
        broker=services.broker,
        settings=services.live_settings,
        report=report,
        call_soon=lambda work: loop.call_soon(lambda: loop.create_task(work())),  # type: ignore[arg-type]
        clock=services.clock,
        arguments=arguments,
        triggered_by=by,
    )
    context.reports = reports  # type: ignore[attr-defined]
    return context


async def test_rows_read_as_columns_are_the_rows_read_as_objects_cell_for_cell(
    shop: str, exports_dir: Path
) -> None:
    """The fast path (columns, related records by key) and the objects' path give the same
    cells, over batches smaller than the list, so kept related cells cross batches."""
    services = build_services(make_config(shop, exports_dir=exports_dir))
    view = views_by_key()["order"]
    found: dict[bool, list[dict[str, Any]]] = {}
    async with open_services(services, listen=False), services.session_factory() as session:
        user = await exporting_user(session, "clerk")
        assert user is not None
        for as_columns in (True, False):
            request = export_request(view, user, "sort=total__asc", session)
            rows = ListRows(view, request, export_fields(view, request, []), as_columns=as_columns)
            found[as_columns] = [row async for batch in rows.batches(size=4) for row in batch]
    assert len(found[True]) == 18
    assert found[True] == found[False]
    assert {type(row["customer"]) for row in found[True]} == {RelatedCell}


async def test_a_cancelled_export_leaves_no_file(shop: str, exports_dir: Path) -> None:
    services = build_services(make_config(shop, exports_dir=exports_dir))
    async with open_services(services, listen=False):
        name = ExportFiles.new_name("order", "csv", services.clock.now())
        context = job_context(
            services, {"model": "order", "query": PAID, "format": "csv", "file": name}, "clerk"
        )
        context.cancel()  # as the jobs page's Cancel does, while the rows are read
        with pytest.raises(JobCancelled):
            await export_list(context)
    assert left_in(exports_dir) == []


async def test_an_export_stopped_between_batches_removes_its_partial_file(
    shop: str, exports_dir: Path
) -> None:
    services = build_services(make_config(shop, exports_dir=exports_dir))
    async with open_services(services, listen=False):
        name = ExportFiles.new_name("order", "csv", services.clock.now())
        context = job_context(
            services, {"model": "order", "query": "", "format": "csv", "file": name}, "clerk"
        )
        task = asyncio.create_task(export_list(context))
        deadline = time.monotonic() + WAIT_S
        while f"{name}.part" not in left_in(exports_dir):  # the file is being written
            assert time.monotonic() < deadline and not task.done()
            await asyncio.sleep(0)
        task.cancel()  # as a timeout or a shutdown stops an async job
        with pytest.raises(asyncio.CancelledError):
            await task
    assert left_in(exports_dir) == []


@pytest.fixture
def viewer(shop: str) -> str:
    add_user(shop, "viewer", superuser=False, permissions=["order:view"])
    return "viewer"


async def test_an_export_for_someone_without_order_export_writes_nothing(
    shop: str, viewer: str, exports_dir: Path
) -> None:
    services = build_services(make_config(shop, exports_dir=exports_dir))
    async with open_services(services, listen=False):
        name = ExportFiles.new_name("order", "csv", services.clock.now())
        context = job_context(
            services, {"model": "order", "query": "", "format": "csv", "file": name}, viewer
        )
        with pytest.raises(Exception, match="viewer may not export order"):
            await export_list(context)
    assert left_in(exports_dir) == []


async def test_run_without_a_list_the_export_job_says_where_it_runs_from(
    sqlite_url: str, exports_dir: Path
) -> None:
    services = build_services(make_config(sqlite_url, exports_dir=exports_dir))
    async with open_services(services, listen=False):
        context = job_context(services, {}, None)
        await export_list(context)
    assert "runs from a list's Export" in context.log_lines.text()


async def test_the_purge_deletes_exports_older_than_the_retention_only(
    sqlite_url: str, exports_dir: Path
) -> None:
    clock = FakeClock(dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC))
    services = build_services(make_config(sqlite_url, exports_dir=exports_dir), clock=clock)
    old, stale_partial, fresh = (
        written_ago(exports_dir, clock.now(), hours)
        for hours in ((25, ""), (30, ".part"), (23, ""))
    )
    written_ago(exports_dir, clock.now(), (1000, ""), name="notes.txt")  # not an export
    async with open_services(services, listen=False):
        context = job_context(services, {}, None)
        await purge_exports(context)
    assert left_in(exports_dir) == sorted([fresh, "notes.txt"])
    assert old not in left_in(exports_dir) and stale_partial not in left_in(exports_dir)
    assert "purged 2 export files older than 24 hours" in context.log_lines.text()
