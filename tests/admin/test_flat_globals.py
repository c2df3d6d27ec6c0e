"""Templates read their globals from a plain dict (app/admin/flat_globals.py): Jinja's ChainMap
is walked in Python on every render, include and import with context."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.admin.flat_globals import flatten_globals


def test_every_template_the_list_page_loads_reads_every_global_from_a_dict(
    app: Starlette, admin_client: TestClient
) -> None:
    env = app.state.admin.templates.env
    assert admin_client.get("/admin/order/list").status_code == 200
    loaded = [template for _, template in env.cache.items()]
    assert len(loaded) > 10  # the page, its layout, includes and imported macros
    for template in loaded:
        assert type(template.globals) is dict, template.name
        assert env.globals.keys() <= template.globals.keys(), template.name
        assert template.globals["csp_nonce"] is env.globals["csp_nonce"]


def test_a_template_loaded_before_the_globals_were_flattened_is_loaded_again(
    app: Starlette,
) -> None:
    env = app.state.admin.templates.env
    env.cache.clear()
    env.make_globals = type(env).make_globals.__get__(env)  # Jinja's own: a ChainMap
    assert type(env.get_template("layout.html").globals) is not dict
    flatten_globals(env)
    assert type(env.get_template("layout.html").globals) is dict
