"""The served process keeps what start-up built out of later garbage collections; an app a
test builds does not."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

import app.main
from app.main import create_app
from tests.conftest import make_config


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Whatever a test froze is collectable again afterwards (the suite's process goes on)."""
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
def test_a_served_app_freezes_what_start_up_built_once_its_services_are_open(
    sqlite_url: str,
) -> None:
    served = create_app(make_config(sqlite_url), served=True)
    assert gc.get_freeze_count() == 0  # built, not started
    with TestClient(served, base_url="https://testserver") as client:
        assert gc.get_freeze_count() > 0
        assert client.get("/healthz").status_code == 200


@pytest.mark.usefixtures("unfrozen")
def test_an_app_built_for_a_test_freezes_nothing(sqlite_url: str) -> None:
    with TestClient(create_app(make_config(sqlite_url)), base_url="https://testserver"):
        assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("unfrozen")
def test_the_app_uvicorn_imports_is_the_served_one(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("SECRET_KEY", "test-secret")
    monkeypatch.setenv("SCHEDULER", "off")
    monkeypatch.setenv("PASSWORD_HASHING", "fast-for-tests")
    kept = vars(app.main).pop("app", None)  # built on first access (app.main.__getattr__)
    try:
        uvicorns = app.main.app
        with TestClient(uvicorns, base_url="https://testserver"):
            assert gc.get_freeze_count() > 0
    finally:
        vars(app.main).pop("app", None)
        if kept is not None:
            vars(app.main)["app"] = kept
