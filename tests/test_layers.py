"""No lower layer imports a higher one, read from the source's imports (every `import`, also
inside functions and under TYPE_CHECKING).

From the bottom: tables (app/models, app/db.py, app/config.py); the capabilities (auth,
channels, constance, notifications, scheduler, audit, shop); the services a process opens
(app/services.py); the pages and endpoints (app/admin, app/views); the roots that wire and
run (app/main.py, app/cli/, app/shell.py). A capability's command-line modules are entry
points: they open the services and use what every command shares (app/cli/shared.py), and
nothing else in a capability does. And one module,
app/admin/library.py, is all that touches starlette-admin's private API.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest
import starlette_admin

APP = Path(__file__).resolve().parents[1] / "app"
CAPABILITIES = (
    "audit",
    "auth",
    "channels",
    "constance",
    "dashboard",
    "imports",
    "notifications",
    "scheduler",
    "shop",
)
ENTRY_POINTS = {
    "app/auth/commands.py",
    "app/constance/commands.py",
    "app/scheduler/commands.py",
    "app/scheduler/standalone.py",
}
PAGES = ("app.admin", "app.views")
ROOTS = ("app.main", "app.cli", "app.shell")
SHARED_BY_COMMANDS = "app.cli.shared"


def module_of(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def nodes(path: Path) -> tuple[ast.AST, ...]:
    """Every node of the file's syntax tree: parsed and walked once for all the checks here."""
    return tuple(ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))))


def imported(path: Path) -> set[str]:
    """Every module the file imports, with `from a import b` also counted as `a.b`."""
    names: set[str] = set()
    package = module_of(path) if path.name == "__init__.py" else module_of(path).rpartition(".")[0]
    for node in nodes(path):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def within(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


def files(*relative: str) -> list[Path]:
    found: list[Path] = []
    for each in relative:
        path = APP.parent / each
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return found


def breaches(
    paths: list[Path], forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()
) -> list[str]:
    return sorted(
        f"{path.relative_to(APP.parent)} imports {name}"
        for path in paths
        for name in imported(path)
        if within(name, forbidden) and not within(name, allowed)
    )


def test_the_tables_import_no_capability_nor_anything_above() -> None:
    above = (*(f"app.{c}" for c in CAPABILITIES), "app.services", *PAGES, *ROOTS)
    assert breaches(files("app/models", "app/db.py", "app/config.py"), above) == []


def inside(capability: str, *, entry_points: bool) -> list[Path]:
    return [
        path
        for path in files(f"app/{capability}")
        if (str(path.relative_to(APP.parent)) in ENTRY_POINTS) == entry_points
    ]


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_a_capability_imports_no_page_endpoint_root_nor_the_services(capability: str) -> None:
    forbidden = ("app.services", *PAGES, *ROOTS)
    assert breaches(inside(capability, entry_points=False), forbidden) == []


@pytest.mark.parametrize("capability", ["auth", "constance", "scheduler"])
def test_a_capabilitys_commands_open_the_services_but_import_no_page_nor_root(
    capability: str,
) -> None:
    entry_points = inside(capability, entry_points=True)
    assert entry_points
    assert breaches(entry_points, (*PAGES, *ROOTS), allowed=(SHARED_BY_COMMANDS,)) == []


def test_what_every_command_shares_imports_no_page_nor_root() -> None:
    # The capabilities' commands import it: importing app.cli's own modules back would be a cycle.
    assert breaches(files("app/cli/shared.py"), (*PAGES, *ROOTS)) == []


@pytest.mark.parametrize(
    "module", ["app.auth.commands", "app.constance.commands", "app.scheduler.commands"]
)
def test_a_capabilitys_commands_import_first_without_a_cycle(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}, app.cli; print(app.cli.build_parser().prog)"],
        capture_output=True,
        text=True,
        cwd=APP.parent,
        timeout=60,
    )
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "starboard\n")


def test_the_services_import_no_page_endpoint_or_root() -> None:
    assert breaches(files("app/services.py"), (*PAGES, *ROOTS)) == []


def test_endpoints_import_no_admin_page_and_pages_no_root() -> None:
    assert breaches(files("app/views"), ("app.admin", *ROOTS)) == []
    assert breaches(files("app/admin"), ("app.views", *ROOTS)) == []


def starlette_admin_private_names() -> set[str]:
    """Every underscore name starlette-admin defines: methods, attributes, class fields."""
    names: set[str] = set()
    for path in Path(starlette_admin.__file__).parent.rglob("*.py"):
        for node in nodes(path):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def test_only_the_adapter_touches_starlette_admins_private_api() -> None:
    private = starlette_admin_private_names()
    adapter = APP / "admin" / "library.py"
    # The SQLite driver adapts SQLAlchemy's cursor, whose `_rows` shares a name with the admin's.
    other_libraries = {APP / "sqlite_driver.py"}
    found = []
    for path in files("app"):
        if path == adapter:
            continue
        if path in other_libraries:  # exempt only while it leaves starlette-admin alone
            found.extend(
                f"{path.relative_to(APP.parent)} imports {name}"
                for name in imported(path)
                if within(name, ("starlette_admin",))
            )
            continue
        for node in nodes(path):
            used = node.attr if isinstance(node, ast.Attribute) else None
            if isinstance(node, ast.ClassDef):  # an override of a private method
                found.extend(
                    f"{path.relative_to(APP.parent)}: def {member.name}"
                    for member in node.body
                    if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef)
                    and member.name in private
                )
            if used in private:
                found.append(f"{path.relative_to(APP.parent)}:{node.lineno}: .{used}")
        found.extend(
            f"{path.relative_to(APP.parent)} imports {name}"
            for name in imported(path)
            if within(name, ("starlette_admin.tools",))
        )
    assert "_template_response" in private and "_populate_obj" in private
    assert found == []


def test_the_import_reader_sees_imports_inside_functions() -> None:
    assert "app.shell.run_shell" in imported(APP / "cli" / "__init__.py")  # imported in cmd_shell
    assert "app.auth.secrets.is_secret" in imported(APP / "audit" / "diff.py")
    assert within("app.admin.model_view", PAGES) and not within("app.administration", PAGES)
