"""A model added to the code gets its admin pages with no registration line.

Runs in a subprocess so the extra table never joins the suite's shared metadata.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import re, sys
    import anyio
    from sqlalchemy import String
    from sqlalchemy.orm import Mapped, mapped_column
    from starlette.testclient import TestClient

    from app.db import Base, create_engine
    from tests.conftest import add_user, csrf_token, make_config, migrated_url, sign_in


    class Warehouse(Base):  # the whole change a developer makes
        __tablename__ = "warehouse"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50), index=True)

        def __str__(self) -> str:
            return f"Warehouse {self.name}"


    url = migrated_url("sqlite+aiosqlite:///" + sys.argv[1])

    async def create_table() -> None:
        engine = create_engine(url)
        async with engine.begin() as connection:
            await connection.run_sync(Warehouse.__table__.create)
        await engine.dispose()

    anyio.run(create_table)
    add_user(url, "admin")

    from app.main import create_app

    with TestClient(create_app(make_config(url)), base_url="https://testserver") as client:
        sign_in(client, "admin")
        form = client.get("/admin/warehouse/create")
        assert form.status_code == 200, form.status_code
        created = client.post(
            "/admin/warehouse/create",
            data={"name": "North", "csrftoken": csrf_token(form.text)},
            follow_redirects=False,
        )
        assert created.status_code in (302, 303), created.text[-400:]
        listing = client.get("/admin/warehouse/list").text
        assert 'data-column="name"' in listing
        assert "North" in listing
        assert "Warehouses" in client.get("/admin/").text  # in the menu
    print("warehouse pages OK")
    """
)


def test_a_new_model_gets_admin_pages_with_no_other_change(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "db.sqlite")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "warehouse pages OK" in result.stdout


def test_menu_labels_are_english_plurals_of_the_model_names() -> None:
    from app.admin.model_view import menu_label_of
    from app.admin.site import model_views

    assert [menu_label_of(name) for name in ("Order", "CustomerStats", "Category", "Day")] == [
        "Orders",
        "Customer Stats",
        "Categories",
        "Days",
    ]
    labels = {view.model.__name__: view.menu_label for view in model_views()}
    assert labels["CustomerStats"] == "Customer Stats"
    assert labels["OrderItem"] == "Order Items"
