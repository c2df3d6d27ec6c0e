"""Malformed keys and numbers in the admin's URLs: 404 for a key no row can have, 400 naming a
query parameter out of its bounds, never a 500, and nothing changed (docs/reference.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html import unescape
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from app.main import create_app
from app.models import Customer, Product, Tag
from tests.admin.test_model_views import fill_shop, scalar
from tests.conftest import add_user, csrf_token, make_config, sign_in

# Keys no product can have: words, a NUL, SQL, past PostgreSQL's INTEGER, past 64 bits, and
# more digits than int() reads.
WRONG_KEYS = [
    "abc",
    "1\x00",
    "1 OR 1=1",
    str(2**31),
    str(2**63),
    str(-(2**63) - 1),
    "9" * 5000,
]
# The order-item model's key is one number; the read marks' key is two, joined by a comma.
WRONG_COMPOSITE_KEYS = ["1", "1,2,3", "a,b", f"1,{2**63}"]


@contextmanager
def signed_in_shop(url: str) -> Iterator[TestClient]:
    """A superuser on a small shop with 30 customers."""
    fill_shop(url, customers=30, orders_each=1)
    add_user(url, "root")
    with TestClient(create_app(make_config(url)), base_url="https://testserver") as client:
        sign_in(client, "root")
        yield client


@pytest.fixture(scope="module")
def root(module_database_url: str) -> Iterator[TestClient]:
    """One shop per backend, shared by the tests that change nothing (what they assert):
    building a shop and an app for each of them cost most of the module's time."""
    with signed_in_shop(module_database_url) as client:
        yield client


@pytest.fixture
def own_root(database_url: str) -> Iterator[TestClient]:
    """A shop of the test's own, for tests that save something into it."""
    with signed_in_shop(database_url) as client:
        yield client


# For bounds checked before any statement: one backend shows them.
ON_SQLITE = pytest.mark.parametrize("module_database_url", ["sqlite"], indirect=True)
OWN_ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def counts(url: str) -> tuple[object, ...]:
    return tuple(
        scalar(url, select(func.count()).select_from(model)) for model in (Product, Customer)
    )


def token_of(client: TestClient) -> str:
    return csrf_token(client.get("/admin/product/list").text)


Ask = Callable[[TestClient, str, str], Any]


def api_refusal(detail: str, field: str) -> dict[str, str]:
    """A refusal from the admin's JSON endpoints: the message again as `msg`, which the
    library's scripts show."""
    return {"detail": detail, "field": field, "msg": detail}


KEYED_ROUTES: dict[str, Ask] = {
    "detail": lambda c, _, key: c.get("/admin/product/detail", params={"pk": key}),
    "edit form": lambda c, _, key: c.get("/admin/product/edit", params={"pk": key}),
    "edit save": lambda c, token, key: c.post(
        "/admin/product/edit",
        params={"pk": key},
        data={"csrftoken": token, "sku": "X-1", "name": "Renamed", "category": "books"},
    ),
    "row delete": lambda c, token, key: c.post(
        "/admin/_api/product/row-action",
        params={"pk": key, "name": "delete"},
        headers={"X-CSRFToken": token},
        data={},
    ),
    "batch delete": lambda c, token, key: c.post(
        "/admin/_api/product/action",
        params={"pks": ["1", key], "name": "delete"},
        headers={"X-CSRFToken": token},
        data={},
    ),
    "picker lookup": lambda c, _, key: c.get(
        "/admin/_api/product/relation-lookup", params={"pks": ["1", key]}
    ),
}


@pytest.mark.parametrize("route", sorted(KEYED_ROUTES))
def test_a_key_no_row_can_have_is_not_found_and_changes_nothing(
    root: TestClient, module_database_url: str, route: str
) -> None:
    token = token_of(root)
    before = counts(module_database_url)
    for key in WRONG_KEYS:
        answer = KEYED_ROUTES[route](root, token, key)
        assert answer.status_code == 404, (key[:20], answer.text[-300:])
    assert counts(module_database_url) == before
    assert scalar(module_database_url, select(Product.name).where(Product.id == 1)) != "Renamed"


def test_the_json_endpoints_name_the_key_that_matches_nothing(root: TestClient) -> None:
    token = token_of(root)

    deleted = KEYED_ROUTES["batch delete"](root, token, "abc")
    looked_up = KEYED_ROUTES["picker lookup"](root, token, str(2**63))
    row = KEYED_ROUTES["row delete"](root, token, "1\x00")

    assert deleted.json() == api_refusal("pks: no product has the key 'abc'", "pks")
    assert looked_up.json() == api_refusal(f"pks: no product has the key '{2**63}'", "pks")
    assert row.json() == api_refusal("pk: no product has the key '1\\x00'", "pk")


@ON_SQLITE
def test_a_composite_key_of_the_wrong_shape_is_not_found(root: TestClient) -> None:
    for key in WRONG_COMPOSITE_KEYS:
        answer = root.get("/admin/notification-read/detail", params={"pk": key})
        assert answer.status_code == 404, key


@ON_SQLITE
def test_a_right_key_still_opens_its_row(root: TestClient) -> None:
    assert root.get("/admin/product/detail", params={"pk": " 1"}).status_code == 200
    looked_up = root.get("/admin/_api/product/relation-lookup", params={"pks": ["1", "2"]})
    assert looked_up.status_code == 200
    assert looked_up.json()["total"] == 2


# --- the pickers' lookup --------------------------------------------------------------------

LOOKUP = "/admin/_api/customer/relation-lookup"
OUT_OF_BOUNDS = {
    "limit": ["0", "-5", "101", "abc", "1.5", "1e2", str(2**63), "٣"],
    "skip": ["-1", "abc", str(2**63), "9" * 5000],
}


@ON_SQLITE
@pytest.mark.parametrize("parameter", sorted(OUT_OF_BOUNDS))
def test_the_lookup_refuses_a_window_out_of_bounds_naming_the_parameter(
    root: TestClient, parameter: str
) -> None:
    accepted = {"limit": "from 1 to 100", "skip": "from 0 to 9,223,372,036,854,775,807"}
    for value in OUT_OF_BOUNDS[parameter]:
        answer = root.get(LOOKUP, params={parameter: value})
        assert answer.status_code == 400, (value[:20], answer.text[-300:])
        assert answer.json() == api_refusal(
            f"{parameter}: a whole number {accepted[parameter]}", parameter
        )


def test_the_lookup_answers_at_most_its_limit_and_zero_is_not_every_row(
    root: TestClient,
) -> None:
    assert root.get(LOOKUP, params={"limit": "0"}).status_code == 400
    assert len(root.get(LOOKUP, params={"limit": "100"}).json()["items"]) == 30
    assert len(root.get(LOOKUP, params={"limit": "7"}).json()["items"]) == 7
    assert len(root.get(LOOKUP).json()["items"]) == 20  # the pickers' own page
    last = root.get(LOOKUP, params={"skip": str(2**63 - 1), "limit": "100"})
    assert last.status_code == 200
    assert last.json()["items"] == []


# --- list pages -----------------------------------------------------------------------------


@ON_SQLITE
def test_a_page_past_the_last_possible_is_refused_naming_page(root: TestClient) -> None:
    refusal = {"detail": "page: a whole number from 1 to 999,999,999", "field": "page"}
    for page in [str(10**9), str(2**63), str(10**30)]:
        answer = root.get(
            "/admin/customer/list", params={"page": page}, headers={"Accept": "application/json"}
        )
        assert (answer.status_code, answer.json()) == (400, refusal), page


@ON_SQLITE
def test_a_page_of_the_wrong_shape_is_the_first_page_as_the_library_keeps_it(
    root: TestClient,
) -> None:
    for page in ["abc", "-3", "0", "9" * 5000]:
        answer = root.get("/admin/customer/list", params={"page": page, "page_size": "10"})
        assert answer.status_code == 200, page
        assert "Showing 1 to 10 of 30 entries" in " ".join(answer.text.split())
    far = root.get("/admin/customer/list", params={"page": "999999999"})
    assert far.status_code == 200


@ON_SQLITE
def test_a_page_size_off_the_menu_is_refused_naming_page_size(root: TestClient) -> None:
    for size in ["-5", "0", "7", str(2**63)]:
        answer = root.get("/admin/customer/list", params={"page_size": size})
        assert answer.status_code == 400, size
        assert "page_size" in answer.text


def test_a_search_for_a_number_no_key_can_hold_finds_nothing(root: TestClient) -> None:
    for term in [str(2**31), str(2**63), "9" * 5000]:
        listed = root.get("/admin/customer/list", params={"q": term})
        looked_up = root.get(LOOKUP, params={"q": term})
        assert listed.status_code == 200, term[:20]
        assert "No entries" in listed.text
        assert (looked_up.status_code, looked_up.json()) == (200, {"items": [], "total": 0})


@ON_SQLITE
def test_a_search_for_a_lone_surrogates_bytes_reads_them_as_replacement_characters(
    root: TestClient,
) -> None:
    listed = root.get("/admin/customer/list?q=%ED%A0%80")
    looked_up = root.get(f"{LOOKUP}?q=%ED%A0%80")

    assert listed.status_code == 200
    assert 'value="\ufffd\ufffd\ufffd"' in listed.text
    assert (looked_up.status_code, looked_up.json()) == (200, {"items": [], "total": 0})


@ON_SQLITE
@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("(((", "a '(' is not closed"),
        ("(name__contains=tea", "a '(' is not closed"),
        ("()", "an empty group ()"),
        ("name__contains=tea AND", "AND or OR with nothing on one side"),
        ("OR name__contains=tea", "AND or OR with nothing on one side"),
        ('name__contains="tea', 'a quoted value is not closed with "'),
    ],
)
def test_a_filter_expression_of_the_wrong_shape_is_refused_naming_why(
    root: TestClient, expression: str, why: str
) -> None:
    # The library's parser read these as no filter (or less of one) and listed every row.
    answer = root.get("/admin/product/list", params={"filter": expression})
    assert answer.status_code == 400
    assert f"Invalid 'filter' parameter: {why}" in unescape(answer.text)
    kept = root.get("/admin/product/list", params={"filter": '(name__contains="te(a")'})
    assert kept.status_code == 200  # brackets inside a quoted value are the value's


def test_a_nul_in_a_list_or_lookup_parameter_is_refused_naming_it(root: TestClient) -> None:
    json = {"Accept": "application/json"}
    for parameter, value in [
        ("q", "a\x00b"),
        ("q", "\x00"),
        ("filter", "name__contains=a\x00b"),
        ("sort", "\x00"),
    ]:
        refusal = {"detail": f"{parameter}: text without NUL bytes", "field": parameter}
        listed = root.get("/admin/customer/list", params={parameter: value}, headers=json)
        looked_up = root.get(LOOKUP, params={parameter: value})
        assert (listed.status_code, listed.json()) == (400, refusal), value
        assert (looked_up.status_code, looked_up.json()) == (400, api_refusal(**refusal)), value


# --- the admin's own pages ------------------------------------------------------------------

TOO_BIG_IDS = [str(2**31), str(2**63), "9" * 30]


@pytest.mark.parametrize(
    "path",
    [
        "/admin/jobs/low_stock_report/runs/{id}",
        "/admin/jobs/low_stock_report/runs/{id}/detail",
        "/admin/jobs/low_stock_report/runs/{id}/row",
    ],
)
def test_a_run_id_past_the_column_is_not_found(root: TestClient, path: str) -> None:
    for run_id in [*TOO_BIG_IDS, "abc", "-1"]:
        answer = root.get(path.format(id=run_id))
        assert answer.status_code == 404, run_id


def test_cancelling_a_run_id_past_the_column_is_not_found(root: TestClient) -> None:
    token = token_of(root)
    for run_id in TOO_BIG_IDS:
        answer = root.post(f"/admin/jobs/runs/{run_id}/cancel", data={"csrftoken": token})
        assert answer.status_code == 404, run_id
        assert f"run {run_id}: no such run" in answer.text


def test_marking_read_a_notification_id_past_the_column_is_refused_naming_id(
    root: TestClient,
) -> None:
    token = token_of(root)
    for notification_id in TOO_BIG_IDS:
        answer = root.post(
            "/admin/notifications/read", data={"csrftoken": token, "id": notification_id}
        )
        assert answer.status_code == 400, notification_id
        assert answer.text.startswith("id: ")


def test_reverting_a_change_id_past_the_column_is_not_found(root: TestClient) -> None:
    token = token_of(root)
    for change_id in TOO_BIG_IDS:
        answer = root.post(
            f"/admin/settings/ADMIN_PAGE_SIZE/revert/{change_id}",
            data={"csrftoken": token, "seen_version": "0"},
        )
        assert answer.status_code == 404, change_id


# --- text no database stores ----------------------------------------------------------------


def test_a_nul_in_a_form_field_is_refused_naming_the_field(
    root: TestClient, module_database_url: str
) -> None:
    token = csrf_token(root.get("/admin/tag/create").text)
    for name in ["a\x00b", "\x00"]:
        answer = root.post("/admin/tag/create", data={"csrftoken": token, "name": name})
        assert answer.status_code == 422, name
        assert "Name: text cannot contain a NUL byte or a lone surrogate" in answer.text
    assert scalar(module_database_url, select(func.count()).select_from(Tag)) == 3  # the shop's


def test_a_lone_surrogates_bytes_in_a_form_are_refused_not_stored_as_replacement_characters(
    root: TestClient, module_database_url: str
) -> None:
    # %ED%A0%80 is not UTF-8: the form reads it as U+FFFD, which would store lost text.
    token = csrf_token(root.get("/admin/tag/create").text)
    answer = root.post(
        "/admin/tag/create",
        content=f"csrftoken={token}&name=a%ED%A0%80b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 422
    assert "Name: text cannot contain U+FFFD, which stands in for bytes that were not UTF-8" in (
        answer.text
    )
    assert scalar(module_database_url, select(func.count()).select_from(Tag)) == 3  # the shop's


def multipart(token: str, charset: str, name: bytes) -> tuple[bytes, dict[str, str]]:
    body = b"".join(
        [
            b'--XX\r\nContent-Disposition: form-data; name="csrftoken"\r\n\r\n',
            token.encode(),
            b'\r\n--XX\r\nContent-Disposition: form-data; name="name"\r\n\r\n',
            name,
            b"\r\n--XX--\r\n",
        ]
    )
    return body, {"Content-Type": f"multipart/form-data; charset={charset}; boundary=XX"}


@ON_SQLITE
def test_a_form_in_a_charset_that_makes_lone_surrogates_is_refused(
    root: TestClient, module_database_url: str
) -> None:
    token = csrf_token(root.get("/admin/tag/create").text)
    for charset, name in [
        ("utf-7", b"+2AA-"),
        ("raw_unicode_escape", b"\\ud800"),
        ('"unicode-escape"', b"\\ud800"),
    ]:
        body, headers = multipart(token, charset, name)
        answer = root.post("/admin/tag/create", content=body, headers=headers)
        assert answer.status_code == 415, charset
        assert answer.text == (
            "Content-Type: a multipart form's charset must be utf-8 (or not given)"
        )
    assert scalar(module_database_url, select(func.count()).select_from(Tag)) == 3  # the shop's


def test_a_path_with_a_nul_byte_is_not_found(root: TestClient) -> None:
    for path in ["/admin/jobs/low%00stock", "/admin/settings/ADMIN%00PAGE_SIZE", "/admin/tag/%00"]:
        answer = root.get(path)
        assert answer.status_code == 404, path
        assert answer.text == "Not found: no address holds a NUL byte"


@OWN_ON_SQLITE
def test_a_form_that_names_utf_8_is_read(own_root: TestClient, database_url: str) -> None:
    token = csrf_token(own_root.get("/admin/tag/create").text)
    body, headers = multipart(token, "UTF-8", "café".encode())

    answer = own_root.post(
        "/admin/tag/create", content=body, headers=headers, follow_redirects=False
    )

    assert answer.status_code == 303
    assert scalar(database_url, select(Tag.id).where(Tag.name == "café")) is not None


# --- requests the library's own code read as a server error ---------------------------------


@ON_SQLITE
def test_a_batch_action_that_names_no_action_is_refused_naming_name(
    root: TestClient, module_database_url: str
) -> None:
    token = token_of(root)
    before = counts(module_database_url)

    answer = root.post(
        "/admin/_api/product/action", params={"pks": ["1"]}, headers={"X-CSRFToken": token}
    )

    assert (answer.status_code, answer.json()) == (
        400,
        api_refusal("name: the action to run, such as delete or export", "name"),
    )
    assert counts(module_database_url) == before


@ON_SQLITE
def test_a_multipart_body_the_csrf_check_cannot_parse_is_refused_and_changes_nothing(
    root: TestClient, module_database_url: str
) -> None:
    for content_type, body, says in [
        ("multipart/form-data", b"--x\r\n", "Missing boundary in multipart."),
        ("multipart/form-data; boundary=XX", b"garbage", "Invalid multipart data."),
    ]:
        answer = root.post(
            "/admin/tag/create", content=body, headers={"Content-Type": content_type}
        )
        # 4xx: the form is refused as unreadable (a body-limits check may answer it first).
        assert 400 <= answer.status_code < 500, content_type
        assert says in answer.text, answer.text
    assert scalar(module_database_url, select(func.count()).select_from(Tag)) == 3  # the shop's


def test_text_longer_than_its_column_is_refused_naming_the_field(
    own_root: TestClient, database_url: str
) -> None:
    token = csrf_token(own_root.get("/admin/tag/create").text)

    refused = own_root.post("/admin/tag/create", data={"csrftoken": token, "name": "x" * 41})
    taken = own_root.post(
        "/admin/tag/create", data={"csrftoken": token, "name": "y" * 40}, follow_redirects=False
    )

    assert refused.status_code == 422
    assert "Name: at most 40 characters" in refused.text
    assert taken.status_code == 303
    names = scalar(database_url, select(func.count()).select_from(Tag).where(Tag.name == "y" * 40))
    assert names == 1
    assert scalar(database_url, select(func.count()).select_from(Tag)) == 4  # the shop's 3 + 1


def test_a_duplicate_value_is_a_form_error_and_logs_no_traceback(
    root: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = csrf_token(root.get("/admin/tag/create").text)
    taken = scalar_name(root)

    with caplog.at_level(logging.INFO):
        answer = root.post("/admin/tag/create", data={"csrftoken": token, "name": taken})

    assert answer.status_code == 422
    assert "another record already has this value" in answer.text
    assert [
        r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR
    ] == []


def scalar_name(client: TestClient) -> str:
    """The name of one of the shop's tags, read from the tag list."""
    listed = client.get("/admin/_api/tag/relation-lookup", params={"limit": "1"}).json()
    return str(listed["items"][0]["name"])
