"""A list's import of a big file runs as the `import_rows` job: a dry run that stores nothing
and lists every bad row, then an apply that stores every row or none (docs/reference.md,
"Imports"). The app runs its scheduler embedded on a FakeClock: a queued run starts at once."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select
from starlette.testclient import TestClient

from app.auth.current import Actor
from app.clock import FakeClock
from app.main import create_app
from app.models import AuditEntry, Customer, JobRun, Order
from tests.conftest import RunCli, SignedIn, add_user, csrf_token, in_session, make_config

ROWS = 300
AS_JOB_OVER = 100  # IMPORT_AS_JOB_ROWS in these tests: a few hundred rows make a big file
HEADER = "customer,status,total,shipped_at,created_at\n"


on_db = in_session  # a committed transaction of its own, outside the app


def count(url: str, model: Any, *where: Any) -> int:
    async def work(session: Any) -> int:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))

    return int(on_db(url, work))


def orders_csv(rows: int = ROWS, bad: dict[int, str] | None = None) -> bytes:
    """`rows` good orders of customers 1 to 5; `bad` replaces whole rows by their number."""
    lines = [HEADER]
    for number in range(1, rows + 1):
        line = f"{number % 5 + 1},paid,{number}.50,,2026-03-01T10:00:00+00:00\n"
        lines.append((bad or {}).get(number, line))
    return "".join(lines).encode()


@dataclass
class Shop:
    url: str
    imports: Path
    clock: FakeClock
    open_as: Callable[[str], TestClient]  # on the app whose scheduler runs the imports
    open_elsewhere: Callable[[str], TestClient]  # on an app of its own, without a scheduler


@pytest.fixture
def shop(database_url: str, tmp_path: Path, signed_in: SignedIn, cli: RunCli) -> Shop:
    add_user(
        database_url,
        "clerk",
        superuser=False,
        permissions=["order:view", "order:create", "order:edit"],
    )
    add_user(database_url, "viewer", superuser=False, permissions=["order:view", "order:create"])

    async def customers(session: Any) -> None:
        session.add_all(Customer(name=f"C{n}", email=f"c{n}@example.org") for n in range(1, 6))

    on_db(database_url, customers)
    assert cli(database_url, "settings", "set", "IMPORT_AS_JOB_ROWS", str(AS_JOB_OVER)).code == 0
    clock = FakeClock()
    imports = tmp_path / "imports"
    config = make_config(database_url, scheduler="embedded", imports_dir=imports)
    app = create_app(config, clock=clock)
    # An app each for a second user: each TestClient runs its own loop, asyncpg's pool is per loop.
    return Shop(
        database_url,
        imports,
        clock,
        lambda username: signed_in(app, username),
        lambda username: signed_in(
            create_app(make_config(database_url, imports_dir=imports), clock=clock), username
        ),
    )


def upload(
    client: TestClient, content: bytes, fmt: str = "csv", key: str = "order", **form: str
) -> httpx.Response:
    token = csrf_token(client.get(f"/admin/{key}/list").text)
    return client.post(
        f"/admin/_api/{key}/import?preview=1",
        files={"file": (f"rows.{fmt}", content, "text/csv")},
        data={"csrftoken": token, "format": fmt, **form},
        headers={"X-CSRFToken": token},
    )


def finished(client: TestClient, url: str) -> str:
    """The run's page once the run has ended (each request lets the app's loop run it on)."""
    for _ in range(2_000):
        page = client.get(url)
        assert page.status_code == 200, page.text[-500:]
        status = re.search(r"data-sb-status=\"(\w+)\"", page.text)
        assert status
        if status[1] not in ("queued", "running"):
            return page.text
    raise AssertionError(f"{url}: the run did not end")


def apply(client: TestClient, page_url: str) -> httpx.Response:
    token = csrf_token(client.get(page_url).text)
    return client.post(f"{page_url}/apply", data={"csrftoken": token}, follow_redirects=False)


def cells(html: str) -> list[list[str]]:
    table = re.search(r"data-sb-import-errors>(.*?)</table>", html, flags=re.S)
    assert table, "no table of bad rows"
    rows = re.findall(r"<tr><td>(.*?)</tr>", table[1], flags=re.S)
    return [re.findall(r"(?:^|<td>)(.*?)</td>", row) for row in rows]


def kept_files(shop: Shop) -> list[str]:
    return sorted(p.name for p in shop.imports.iterdir() if not p.name.endswith(".json"))


def test_a_big_files_dry_run_stores_nothing_and_its_apply_stores_every_row(shop: Shop) -> None:
    clerk = shop.open_as("clerk")
    queued = upload(clerk, orders_csv())
    assert queued.status_code == 202, queued.text
    assert f"{ROWS} rows" in queued.json()["detail"]
    page_url = queued.json()["url"]
    assert queued.headers["location"] == page_url

    page = finished(clerk, page_url)
    assert "The file is good: nothing was saved yet" in page
    assert re.search(r"data-sb-import-add>300<", page) and re.search(
        r"data-sb-import-change>0<", page
    )
    assert "Apply: add 300, change 0" in page
    assert count(shop.url, Order) == 0  # the dry run stored nothing
    assert len(kept_files(shop)) == 1

    applied = apply(clerk, page_url)
    assert applied.status_code == 303, applied.text
    done = finished(clerk, applied.headers["location"])
    assert re.search(r'card-title">\s*Imported\s*<', done)
    assert count(shop.url, Order) == ROWS
    assert count(shop.url, Order, Order.total == 300.50) == 1
    created = count(
        shop.url, AuditEntry, AuditEntry.action == "create", AuditEntry.model == "order"
    )
    assert created == ROWS
    by_clerk = count(
        shop.url, AuditEntry, AuditEntry.model == "order", AuditEntry.username == "clerk"
    )
    assert by_clerk == ROWS
    assert kept_files(shop) == []  # the file goes once applied
    # The dry run's page offers no second apply, and a second apply is refused.
    assert "Apply:" not in clerk.get(page_url).text
    assert apply(clerk, page_url).status_code == 409
    assert count(shop.url, Order) == ROWS


def test_a_bad_row_refuses_the_whole_file_and_names_the_row_and_field(shop: Shop) -> None:
    clerk = shop.open_as("clerk")
    bad = {
        173: "999,paid,1.00,,\n",
        250: "2,bogus,1.00,,\n",
        251: "2,paid,many,,\n",
    }
    queued = upload(clerk, orders_csv(bad=bad))
    assert queued.status_code == 202, queued.text
    page = finished(clerk, queued.json()["url"])
    assert "Refused: nothing was imported" in page
    assert cells(page) == [
        ["173", "Customer", "no customer has the key 999"],
        [
            "250",
            "Status",
            "&#39;bogus&#39; is not one of pending, paid, shipped, delivered, cancelled, refunded",
        ],
        ["251", "Total", "&#39;many&#39; is not a number, such as 12.50"],
    ]
    assert "row 173: Customer: no customer has the key 999" in page  # the run's error
    assert "Apply:" not in page
    refused = apply(clerk, queued.json()["url"])
    assert refused.status_code == 409
    assert "only a file whose dry run found no bad row" in refused.text
    assert count(shop.url, Order) == 0
    assert count(shop.url, JobRun, JobRun.job == "import_rows") == 1  # no apply was queued


def test_a_row_gone_bad_since_the_dry_run_refuses_the_apply_and_nothing_is_stored(
    shop: Shop,
) -> None:
    clerk = shop.open_as("clerk")
    queued = upload(clerk, orders_csv())
    page_url = queued.json()["url"]
    assert "The file is good" in finished(clerk, page_url)

    async def drop_customer(session: Any) -> None:
        await session.execute(delete(Customer).where(Customer.id == 3))

    on_db(shop.url, drop_customer)  # rows 1, 6, 11… name customer 3 (number % 5 + 1)
    applied = apply(clerk, page_url)
    assert applied.status_code == 303
    done = finished(clerk, applied.headers["location"])
    assert "Refused: nothing was imported" in done
    assert "row 2: Customer: no customer has the key 3" in done
    assert count(shop.url, Order) == 0
    assert count(shop.url, AuditEntry, AuditEntry.model == "order") == 0
    assert kept_files(shop) == []  # an apply is never tried twice


@pytest.mark.parametrize("caught_by", ["the checks", "the database"])
def test_a_row_gone_bad_mid_apply_takes_back_every_batch_written_before_it(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, caught_by: str
) -> None:
    """Batches are written one after the other in one transaction: a row of the last batch
    whose customer went meanwhile takes the earlier batches back with it, whether the batch's
    check sees it or (past a check that missed it) the database refuses the insert."""
    from app.imports import loading

    monkeypatch.setattr(loading, "BATCH", 100)

    async def sixth(session: Any) -> None:
        session.add(Customer(id=6, name="C6", email="c6@example.org"))

    on_db(shop.url, sixth)
    clerk = shop.open_as("clerk")
    last_rows = {n: "6,paid,1.00,,\n" for n in range(201, ROWS + 1)}
    page_url = upload(clerk, orders_csv(bad=last_rows)).json()["url"]
    assert "The file is good" in finished(clerk, page_url)
    check = loading.RowLoader.check_batch

    async def customer_gone_before_the_last_batch(
        self: Any, batch: Any, first: int, outcome: Any
    ) -> Any:
        if first == 201:
            await self.session.execute(delete(Customer).where(Customer.id == 6))
        return await check(self, batch, first, outcome)

    async def no_reference_missing(self: Any, target: Any, values: Any) -> set[Any]:
        return set()

    monkeypatch.setattr(loading.RowLoader, "check_batch", customer_gone_before_the_last_batch)
    if caught_by == "the database":
        monkeypatch.setattr(loading.RowLoader, "missing_references", no_reference_missing)
    done = finished(clerk, apply(clerk, page_url).headers["location"])
    assert "Refused: nothing was imported" in done
    if caught_by == "the checks":
        assert "row 201: Customer: no customer has the key 6" in done
    else:
        assert re.search(r"row 201: the database refused it: .*(FOREIGN KEY|foreign key)", done)
    assert count(shop.url, Order) == 0
    assert count(shop.url, AuditEntry, AuditEntry.model == "order") == 0
    assert count(shop.url, Customer) == 6  # the deletion inside the apply went back too


def test_an_apply_after_the_file_changed_is_refused(shop: Shop) -> None:
    clerk = shop.open_as("clerk")
    queued = upload(clerk, orders_csv())
    page_url = queued.json()["url"]
    assert "Apply:" in finished(clerk, page_url)
    (kept,) = [shop.imports / name for name in kept_files(shop)]
    kept.write_bytes(orders_csv(bad={5: "1,paid,1000000.00,,\n"}))

    refused = apply(clerk, page_url)
    assert refused.status_code == 409
    assert "file: changed or gone since its dry run" in refused.text
    page = clerk.get(page_url).text
    assert "Apply:" not in page and "The file changed or is gone" in page
    assert count(shop.url, JobRun, JobRun.job == "import_rows") == 1
    assert count(shop.url, Order) == 0


def test_who_may_not_both_create_and_edit_cannot_start_an_import(shop: Shop) -> None:
    viewer = shop.open_as("viewer")
    for content in (orders_csv(), orders_csv(rows=3)):
        refused = upload(viewer, content)
        assert refused.status_code == 403
    assert count(shop.url, JobRun, JobRun.job == "import_rows") == 0
    assert not shop.imports.exists() or kept_files(shop) == []


def test_only_who_asked_sees_the_import_and_applies_it(shop: Shop) -> None:
    clerk = shop.open_as("clerk")
    page_url = upload(clerk, orders_csv()).json()["url"]
    finished(clerk, page_url)
    viewer = shop.open_elsewhere("viewer")
    assert viewer.get(page_url).status_code == 403
    token = csrf_token(viewer.get("/admin/order/list").text)
    assert viewer.post(f"{page_url}/apply", data={"csrftoken": token}).status_code == 403
    assert clerk.get("/admin/imports/999999").status_code == 404


@pytest.mark.parametrize(
    ("content", "fmt", "status", "message"),
    [
        (
            "customer,status\n1,pay\xe9\n".encode("latin-1"),
            "csv",
            422,
            "file: not UTF-8 text (byte 0xe9",
        ),
        (b"PK\x03\x04\x00\x00binary", "csv", 422, "file: not CSV text"),
        (
            b"name,colour\n1,red\n",
            "csv",
            422,
            "file: columns 'name', 'colour' are not ones this list imports; accepted: ",
        ),
        (b"", "csv", 422, "file: it has no rows"),
        (b"customer,status\n", "csv", 422, "file: it has no rows"),
        (b'{"customer": 1}', "json", 422, "file: expected a JSON array of objects"),
        (b"[{]", "json", 422, "file: not JSON"),
        (b"[" * 5000 + b"]" * 5000, "json", 422, "file: not JSON (nested too deeply to read)"),
        (b'[{"total": ' + b"9" * 5000 + b"}]", "json", 422, "file: not JSON (Exceeds the limit"),
    ],
    ids=[
        "encoding",
        "not-csv",
        "columns",
        "empty",
        "header-only",
        "json-object",
        "not-json",
        "json-nested-deep",
        "json-long-number",
    ],
)
def test_a_malformed_file_is_refused_naming_what_is_accepted(
    shop: Shop, content: bytes, fmt: str, status: int, message: str
) -> None:
    clerk = shop.open_as("clerk")
    refused = upload(clerk, content, fmt)
    assert refused.status_code == status
    assert refused.json()["error"].startswith(message), refused.json()
    if "accepted" in message:
        assert refused.json()["error"].endswith(
            "accepted: id, status, total, shipped_at, created_at, customer"
        )
    assert count(shop.url, JobRun, JobRun.job == "import_rows") == 0


def test_a_file_over_the_size_or_row_limit_is_refused(shop: Shop) -> None:
    clerk = shop.open_as("clerk")
    admin = clerk.app.state.admin  # type: ignore[attr-defined]
    admin.import_config.max_rows = 250
    refused = upload(clerk, orders_csv())
    assert refused.status_code == 413
    assert refused.json()["error"] == (
        "file: 300 rows, more than the 250 one import takes: split it into smaller files"
    )
    admin.import_config.max_upload_size = 1_000
    refused = upload(clerk, orders_csv())
    assert refused.status_code == 413
    assert "over the 1,000 bytes one import takes" in refused.json()["error"]
    assert count(shop.url, JobRun, JobRun.job == "import_rows") == 0


def test_a_small_import_with_a_bad_row_stores_none_of_its_rows(shop: Shop) -> None:
    clerk = shop.open_as("clerk")
    token = csrf_token(clerk.get("/admin/order/list").text)
    content = orders_csv(rows=3, bad={2: "999,paid,1.00,,\n"})
    answer = clerk.post(
        "/admin/_api/order/import",
        files={"file": ("rows.csv", content, "text/csv")},
        data={"csrftoken": token, "format": "csv"},
        headers={"X-CSRFToken": token},
    )
    assert answer.status_code == 422
    assert answer.json()["error"].startswith("Nothing was imported: 1 row(s) refused")
    assert count(shop.url, Order) == 0
    assert count(shop.url, AuditEntry, AuditEntry.model == "order") == 0
    good = clerk.post(
        "/admin/_api/order/import",
        files={"file": ("rows.csv", orders_csv(rows=3), "text/csv")},
        data={"csrftoken": token, "format": "csv"},
        headers={"X-CSRFToken": token},
    )
    assert good.status_code == 200 and good.json()["rows_created"] == 3
    assert count(shop.url, Order) == 3
    tabbed = clerk.post(
        "/admin/_api/order/import",
        files={"file": ("rows.tsv", orders_csv(rows=2).replace(b",", b"\t"), "text/plain")},
        data={"csrftoken": token, "format": "tsv"},
        headers={"X-CSRFToken": token},
    )
    assert tabbed.status_code == 200 and tabbed.json()["rows_created"] == 2, tabbed.text
    assert count(shop.url, Order) == 5


@pytest.mark.parametrize(
    ("row", "named"),
    [
        ("1,bogus,1.00,,\n", "Status: 'bogus' is not one of pending, paid,"),
        ("1,paid,1e309,,\n", "Total: '1E+309' is too large: at most 10 digits"),
        ("1,paid,NaN,,\n", "Total: 'NaN' is not a number"),
        ("1,paid,1.999,,\n", "Total: '1.999' has more than 2 decimal places"),
    ],
)
def test_a_small_import_names_a_cell_its_column_cannot_hold(
    shop: Shop, row: str, named: str
) -> None:
    # Cells the library reads but the column cannot hold: a 500 at the insert, or "an
    # unexpected error" naming nothing, before the cells were checked as a form's text is.
    clerk = shop.open_as("clerk")
    token = csrf_token(clerk.get("/admin/order/list").text)
    answer = clerk.post(
        "/admin/_api/order/import",
        files={"file": ("rows.csv", (HEADER + row).encode(), "text/csv")},
        data={"csrftoken": token, "format": "csv"},
        headers={"X-CSRFToken": token},
    )
    assert answer.status_code == 422, answer.text
    assert named in answer.text, answer.text
    assert count(shop.url, Order) == 0


def test_a_unique_value_twice_in_the_file_or_already_stored_is_named(
    shop: Shop,
) -> None:
    add_user(
        shop.url,
        "crm",
        superuser=False,
        permissions=["customer:view", "customer:create", "customer:edit"],
    )
    crm = shop.open_as("crm")
    lines = ["name,email,city\n"] + [f"N{n},n{n}@example.org,Paris\n" for n in range(1, 201)]
    lines[50] = "Twin,n7@example.org,Lyon\n"  # row 50 repeats row 7's address
    lines[120] = "Old,c2@example.org,Nice\n"  # row 120: customer 2's address
    page = finished(crm, upload(crm, "".join(lines).encode(), key="customer").json()["url"])
    assert cells(page) == [
        ["50", "Email", "row 7 of this file has this value too; each row needs its own"],
        ["120", "Email", "another customer (key 2) already has this value; choose a different one"],
    ]
    assert count(shop.url, Customer) == 5


def test_a_rows_key_updates_only_when_asked(shop: Shop) -> None:
    add_user(
        shop.url,
        "crm",
        superuser=False,
        permissions=["customer:view", "customer:create", "customer:edit"],
    )
    crm = shop.open_as("crm")
    lines = ["id,name,email\n"] + [f",N{n},n{n}@example.org\n" for n in range(1, 200)]
    lines.append("4,Renamed,c4@example.org\n")
    content = "".join(lines).encode()
    page = finished(crm, upload(crm, content, key="customer").json()["url"])
    assert cells(page) == [
        [
            "200",
            "Id",
            "a customer with the key 4 exists already: leave the key empty to add a new one, "
            "or choose to update existing records",
        ]
    ]
    page_url = upload(crm, content, key="customer", update_existing="on").json()["url"]
    assert "Apply: add 199, change 1" in finished(crm, page_url)
    finished(crm, apply(crm, page_url).headers["location"])

    async def renamed(session: Any) -> Any:
        return (await session.get(Customer, 4)).name

    assert on_db(shop.url, renamed) == "Renamed"

    async def entries(session: Any) -> list[AuditEntry]:
        found = select(AuditEntry).where(AuditEntry.model == "customer").order_by(AuditEntry.id)
        return list((await session.scalars(found)).all())

    logged = on_db(shop.url, entries)
    assert [(e.action, e.username) for e in logged] == [("create", "crm")] * 199 + [("edit", "crm")]
    assert logged[-1].object_pk == "4"
    assert logged[-1].changes == {"name": {"old": "C4", "new": "Renamed"}}
    first = logged[0].changes
    assert first is not None
    assert (first["name"], first["email"]) == (
        {"old": None, "new": "N1"},
        {"old": None, "new": "n1@example.org"},
    )
    assert first["created_at"]["new"] is not None  # the column's default, as the insert set it
    assert count(shop.url, Customer) == 5 + 199


def test_files_not_applied_are_removed_after_the_retention(
    database_url: str, tmp_path: Path, signed_in: SignedIn, cli: RunCli
) -> None:
    add_user(
        database_url,
        "clerk",
        superuser=False,
        permissions=["order:view", "order:create", "order:edit"],
    )

    async def customers(session: Any) -> None:
        session.add_all(Customer(name=f"C{n}", email=f"c{n}@example.org") for n in range(1, 6))

    on_db(database_url, customers)
    cli(database_url, "settings", "set", "IMPORT_AS_JOB_ROWS", str(AS_JOB_OVER))
    imports = tmp_path / "imports"
    imports.mkdir()
    stale = imports / "import-0123.csv"
    stale.write_bytes(orders_csv(rows=3))
    fresh = imports / "import-4567.csv"
    fresh.write_bytes(orders_csv(rows=3))
    day = dt.timedelta(days=1).total_seconds()
    now = dt.datetime.now(dt.UTC).timestamp()
    os.utime(stale, (now - 1.5 * day, now - 1.5 * day))  # written a day and a half ago
    os.utime(fresh, (now - 0.5 * day, now - 0.5 * day))
    clock = FakeClock()  # IMPORT_FILE_RETENTION is a day
    app = create_app(
        make_config(database_url, scheduler="embedded", imports_dir=imports), clock=clock
    )
    clerk = signed_in(app, "clerk")
    finished(clerk, upload(clerk, orders_csv()).json()["url"])
    left = sorted(p.name for p in imports.iterdir() if not p.name.endswith(".json"))
    assert "import-0123.csv" not in left and "import-4567.csv" in left and len(left) == 2


def test_the_job_run_without_a_file_says_where_it_runs_from_and_ends(shop: Shop) -> None:
    clerk = shop.open_as("clerk")
    jobs = clerk.app.state.jobs  # type: ignore[attr-defined]
    run_id = clerk.portal.call(jobs.run_now, "import_rows", Actor(None, "ops-anna", None))  # type: ignore[union-attr]

    async def ended(session: Any) -> JobRun | None:
        run = await session.get(JobRun, run_id)
        return run if run.status not in ("queued", "running") else None

    for _ in range(2_000):
        done = on_db(shop.url, ended)
        if done is not None:
            break
    assert done is not None
    assert done.status == "succeeded"
    assert "This job runs from a list's Import, with the file to import; nothing to do." in done.log


def test_accounts_import_only_small_files_in_the_request(shop: Shop) -> None:
    """Saving an account checks who may grant what, which only its form's save knows: a big
    file of users is refused naming the limit, nothing kept or queued."""
    add_user(shop.url, "root")
    root = shop.open_as("root")
    users = "username,email\n" + "".join(f"u{n},u{n}@example.org\n" for n in range(150))
    refused = upload(root, users.encode(), key="user")
    assert refused.status_code == 413
    assert refused.json()["error"] == (
        f"file: 150 rows, {len(users):,} bytes; this list imports at most 100 rows and "
        "1,048,576 bytes at once (each save also checks what only its form knows): split it"
    )
    assert count(shop.url, JobRun, JobRun.job == "import_rows") == 0
    assert not shop.imports.exists()
    # A small file of new accounts is refused naming why: an import carries no password.
    token = csrf_token(root.get("/admin/user/list").text)
    new = root.post(
        "/admin/_api/user/import",
        files={"file": ("users.csv", b"username,email\nnewguy,n@example.org\n", "text/csv")},
        data={"csrftoken": token, "format": "csv"},
        headers={"X-CSRFToken": token},
    )
    assert new.status_code == 422
    assert "username: a new account needs a password, which an import does not carry" in (
        new.json()["errors"][0]["field"] + ": " + new.json()["errors"][0]["message"]
    )
    assert "password_hash" not in new.text


def test_keys_given_in_the_file_leave_the_next_save_its_own_key(shop: Shop) -> None:
    """New rows with keys of their own (6 to 155, the next ones the database would give) and
    without (numbered after them): a later save gets the key after all of them."""
    add_user(
        shop.url,
        "crm",
        superuser=False,
        permissions=["customer:view", "customer:create", "customer:edit"],
    )
    crm = shop.open_as("crm")
    given = [f"{n},N{n},n{n}@example.org\n" for n in range(6, 156)]
    blank = [f",B{n},b{n}@example.org\n" for n in range(3)]
    content = ("id,name,email\n" + "".join(given + blank)).encode()
    page_url = upload(crm, content, key="customer").json()["url"]
    assert "Apply: add 153, change 0" in finished(crm, page_url)
    done = finished(crm, apply(crm, page_url).headers["location"])
    assert "Imported" in done

    async def later_save(session: Any) -> list[int]:
        session.add(Customer(name="Later", email="later@example.org"))
        await session.flush()
        found = select(Customer.id).where(Customer.name.in_(["B0", "B1", "B2", "Later"]))
        return sorted(await session.scalars(found))

    keys = on_db(shop.url, later_save)
    assert keys == [156, 157, 158, 159]
