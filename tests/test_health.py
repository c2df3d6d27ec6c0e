from starlette.testclient import TestClient

from app import __version__
from app.main import create_app
from tests.conftest import make_config


def test_healthz_reports_services_and_no_secrets(admin_client: TestClient) -> None:
    response = admin_client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "status": "ok",
        "database": "ok",
        "redis": "off",
        "scheduler": "off",  # what the test config says
        "settings_version": 0,
        "settings": "ok",
        "version": __version__,
    }
    assert "test-secret" not in response.text


def test_healthz_is_503_when_the_database_does_not_answer(unused_tcp_port: int) -> None:
    # Nothing listens on the port: connections are refused at once.
    app = create_app(make_config(f"postgresql+asyncpg://nobody@127.0.0.1:{unused_tcp_port}/x"))
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "down"
    assert response.json()["status"] == "down"
    assert response.json()["settings"] == "stale"  # serving the code defaults it started with


def test_root_redirects_to_the_admin(admin_client: TestClient) -> None:
    response = admin_client.get("/", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/admin/"
