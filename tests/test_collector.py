import gc
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.collector import YOUNG_THRESHOLD


@contextmanager
def collections() -> Iterator[list[int]]:
    """The generations of the collections run meanwhile."""
    ran: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            ran.append(info["generation"])

    gc.callbacks.append(note)
    try:
        yield ran
    finally:
        gc.callbacks.remove(note)


def test_a_serving_app_freezes_its_start_up_and_raises_the_young_threshold(
    app: Starlette,
) -> None:
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_freeze_count() > 0  # the modules, templates and mappers start-up made
