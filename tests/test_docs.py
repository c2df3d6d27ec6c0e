"""docs/reference.md keeps up with the code, and the repo cites only its own docs.

Fast by design: the parser, the configuration module and the app's routes are read in-process;
no database, broker or server is started.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from app import config
from app.admin.accounts import GrantsPermissions
from app.auth.permissions import CAPABILITY_PERMISSIONS, MODEL_ACTIONS
from app.cli import build_parser
from app.main import create_app
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs/reference.md"
ARCHITECTURE = ROOT / "docs/architecture.md"
# Where code, comments and tests live: none of it may point outside the repo for explanations.
OWN_DIRS = ("app", "static", "templates", "tests", "bench")
# htmx, copied in by the set-up from the npm registry: not ours to word.
NOT_OURS = (ROOT / "static" / "vendor",)
# Design files that live beside the repo, never in it (a citation of docs/…md is fine).
OUTSIDE_CITATION = re.compile(
    r"(?<![\w/.-])(?:contract|architecture|style)\.md|(?:\.\./|/work/)shared\b", re.IGNORECASE
)
HELP = {"-h", "--help"}


def reference() -> str:
    return REFERENCE.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The text under a heading (`## Environment`), up to the next heading of its level or above."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    start = lines.index(heading)  # ValueError: the heading is missing
    body = []
    for line in lines[start + 1 :]:
        marks = len(line) - len(line.lstrip("#"))
        if marks and line[marks : marks + 1] == " " and marks <= level:
            break
        body.append(line)
    return "\n".join(body)


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command a user can type, as ("jobs history", its parser); groups only via leaves."""
    # argparse has no public way to list sub-commands; its own help walks these attributes too.
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups and path:
        yield " ".join(path), parser
    for group in groups:
        for name, sub in group.choices.items():
            yield from commands(sub, (*path, name))


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and not HELP & set(a.option_strings)]


def environment_names() -> set[str]:
    """Every UPPER_CASE name app/config.py passes to a call: the variables it reads."""
    tree = ast.parse(inspect.getsource(config))
    return {
        arg.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for arg in node.args
        if isinstance(arg, ast.Constant)
        and isinstance(arg.value, str)
        and re.fullmatch(r"[A-Z][A-Z0-9_]*", arg.value)
    }


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Starlette:
    """The app as built for serving; never started, so nothing connects anywhere."""
    database = tmp_path_factory.mktemp("docs") / "never-opened.db"
    return create_app(make_config(f"sqlite+aiosqlite:///{database}"))


def route_paths(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, bool]]:
    """(path, is a mount of files) for every route, admin pages included."""
    for route in routes:
        path = prefix + str(getattr(route, "path", ""))
        inner = getattr(route, "routes", None)
        if isinstance(route, Mount) and inner:
            yield from route_paths(list(inner), path)
        else:
            yield path, isinstance(route, Mount)


def without_parameters(text: str) -> str:
    # `{run_id:int}` in a route and `<run id>` in the docs both become `*`.
    return re.sub(r"\{[^}]*\}|<[^>]*>", "*", text)


def test_every_command_has_its_own_section_naming_each_of_its_options() -> None:
    text = reference()
    found = list(commands(build_parser()))
    assert {"serve", "jobs history", "settings import", "users create"} <= {n for n, _ in found}
    for name, parser in found:
        body = section(text, f"### `{name}`")
        for action in options(parser):
            for flag in action.option_strings:
                named = re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", body)
                assert named, f"{name}: {flag} undocumented"
            for choice in action.choices or ():
                assert str(choice) in body, f"{name} {action.option_strings[0]}: {choice}"


def test_the_command_line_section_lists_no_command_the_parser_lacks() -> None:
    documented = re.findall(
        r"^### `([a-z][a-z -]*)`$", section(reference(), "## Command line"), re.M
    )
    assert set(documented) == {name for name, _ in commands(build_parser())}


def test_every_environment_variable_the_app_reads_is_documented_and_no_other() -> None:
    read = environment_names()
    assert {"DATABASE_URL", "JOB_SHUTDOWN_GRACE_S"} <= read
    table = section(reference(), "## Environment")
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", table, re.M))
    assert documented == read


def test_every_permission_an_operator_can_grant_is_documented(app: Starlette) -> None:
    granted = GrantsPermissions.grantable_permissions
    assert "product:view" in granted and "jobs:run" in granted
    text = reference()
    permissions = section(text, "## Permissions")
    for permission in granted:
        if permission in CAPABILITY_PERMISSIONS:
            assert f"`{permission}`" in permissions, permission
            continue
        identity, action = permission.rsplit(":", 1)
        assert action in MODEL_ACTIONS, permission
        assert f"`{action}`" in permissions, permission
        assert f"`{identity}`" in section(text, "### Admin"), f"model identity {identity}"


def test_every_address_the_app_serves_is_documented(app: Starlette) -> None:
    text = without_parameters(reference())
    paths = list(route_paths(list(app.routes)))
    assert ("/healthz", False) in paths and ("/ws", False) in paths
    missing = []
    for path, is_mount in paths:
        # A mount serves what is under it; a page is named whole, not as a prefix of another.
        follows = "/" if is_mount else r"(?=[`\s?\[)|,\]])"
        if not re.search(re.escape(without_parameters(path)) + follows, text):
            missing.append(path)
    assert missing == []


def test_the_repo_cites_only_its_own_docs() -> None:
    assert REFERENCE.is_file() and ARCHITECTURE.is_file()
    citing = []
    for top in OWN_DIRS:
        for path in sorted((ROOT / top).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            if any(path.is_relative_to(skipped) for skipped in NOT_OURS):
                continue
            for number, line in enumerate(path.read_text(errors="ignore").splitlines(), 1):
                if OUTSIDE_CITATION.search(line):
                    citing.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert citing == [], "cite docs/reference.md or docs/architecture.md instead"
