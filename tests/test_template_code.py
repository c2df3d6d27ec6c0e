"""Templates compiled once per process, whatever number of apps it builds."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import DictLoader, Environment

from app.template_code import ProcessBytecodeCache


def environment(cache: ProcessBytecodeCache, source: str) -> Environment:
    return Environment(loader=DictLoader({"page.html": source}), bytecode_cache=cache)


def test_a_second_environment_reuses_the_code_and_an_edit_is_compiled_anew(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled: list[str] = []
    original = Environment.compile

    def counting(self: Environment, source: Any, *args: Any, **kwargs: Any) -> Any:
        compiled.append(str(source))
        return original(self, source, *args, **kwargs)

    monkeypatch.setattr(Environment, "compile", counting)
    cache = ProcessBytecodeCache()

    assert environment(cache, "Hi {{ name }}").get_template("page.html").render(name="a") == "Hi a"
    assert environment(cache, "Hi {{ name }}").get_template("page.html").render(name="b") == "Hi b"
    assert compiled == ["Hi {{ name }}"]

    edited = environment(cache, "Bye {{ name }}").get_template("page.html")
    assert edited.render(name="c") == "Bye c"
    assert compiled == ["Hi {{ name }}", "Bye {{ name }}"]


def test_the_admin_and_the_error_pages_share_the_process_cache(app: Any) -> None:
    from app.template_code import COMPILED_TEMPLATES
    from app.views.errors import templates

    assert app.state.admin.templates.env.bytecode_cache is COMPILED_TEMPLATES
    assert templates.env.bytecode_cache is COMPILED_TEMPLATES
