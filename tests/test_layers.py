"""The layers, read from the imports themselves (AST): a package that imports one it must not fails here.

- ``services/`` is the domain: no NiceGUI, FastAPI, Starlette or uvicorn, and nothing from ``app``,
  ``pages`` or ``components``.
- ``pages/`` and ``components/`` never open a database session (no ``Session``, ``session_scope`` or
  engine of their own): they call services. Of ``app`` they may use only the process-wide hub
  (``app.runtime``) and the console's sign-in (``app.auth``); ``components`` never import ``pages``.
- No cycle between project modules, counting every import (inside functions and under
  ``TYPE_CHECKING`` too): a cycle hidden that way is still two modules that cannot be understood apart.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

PROJECT_PACKAGES = ("app", "services", "pages", "components")
WEB_FRAMEWORKS = ("nicegui", "fastapi", "starlette", "uvicorn")
SESSION_NAMES = {"Session", "session_scope", "create_engine", "make_engine", "sessionmaker"}
CONSOLE_MAY_USE_FROM_APP = ("app.runtime", "app.auth")


@dataclass(frozen=True, slots=True)
class Import:
    importer: str  # dotted module name
    module: str  # what it imports from (dotted)
    names: tuple[str, ...]  # the names taken from it ("" for a plain ``import x``)
    line: int

    def __str__(self) -> str:
        names = f" ({', '.join(self.names)})" if any(self.names) else ""
        return f"{self.importer}:{self.line} imports {self.module}{names}"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_files() -> Iterator[Path]:
    for package in PROJECT_PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def imports_of(path: Path) -> Iterator[Import]:
    importer = module_name(path)
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(importer, alias.name, ("",), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            yield Import(importer, absolute(node, importer, is_package), tuple(a.name for a in node.names), node.lineno)


def absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


ALL_IMPORTS = [found for path in project_files() for found in imports_of(path)]
MODULES = {module_name(path) for path in project_files()}


def within(module: str, *packages: str) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def targets(found: Import) -> list[str]:
    """The project modules an import reaches: ``from pkg import mod`` reaches ``pkg.mod``."""
    reached = [f"{found.module}.{name}" for name in found.names if f"{found.module}.{name}" in MODULES]
    if found.module in MODULES and (len(reached) < len([n for n in found.names if n])):
        reached.append(found.module)
    return reached or ([found.module] if found.module in MODULES else [])


def test_services_know_nothing_of_the_web_or_the_app() -> None:
    bad = [
        str(found) for found in ALL_IMPORTS
        if within(found.importer, "services") and within(found.module, *WEB_FRAMEWORKS, "app", "pages", "components")
    ]
    assert bad == []


def test_pages_and_components_never_open_a_database_session() -> None:
    bad = [
        str(found) for found in ALL_IMPORTS
        if within(found.importer, "pages", "components")
        and ((within(found.module, "sqlmodel", "sqlalchemy", "services.db") and SESSION_NAMES & set(found.names))
             or within(found.module, "sqlalchemy.orm"))
    ]
    assert bad == []


def test_the_console_uses_only_the_hub_and_sign_in_from_app() -> None:
    bad = [
        str(found) for found in ALL_IMPORTS
        if within(found.importer, "pages", "components") and within(found.module, "app")
        and not within(found.module, *CONSOLE_MAY_USE_FROM_APP)
    ]
    bad += [str(found) for found in ALL_IMPORTS if within(found.importer, "components") and within(found.module, "pages")]
    assert bad == []


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for found in ALL_IMPORTS:
        for target in targets(found):
            if target != found.importer and not found.importer.startswith(target + "."):
                graph[found.importer].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle, as the list of modules around it, or None (depth-first search with colours)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[module] = 2
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_no_import_cycle_between_project_modules() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"a2"}, "a2": set(), "b": {"c"}, "c": {"b"}}, ["b", "c", "b"]),
    ],
)
def test_the_cycle_finder_itself(graph: dict[str, set[str]], expected: list[str] | None) -> None:
    assert find_cycle(graph) == expected


def test_the_import_reader_sees_every_kind_of_import() -> None:
    """So the checks above cannot pass for want of reading: plain, from, relative, in-function and
    TYPE_CHECKING imports all show up."""
    hub = [found for found in ALL_IMPORTS if found.importer == "services.hub"]
    assert any(found.module == "services.gateway.router" for found in hub)
    lazy = [found for found in ALL_IMPORTS if found.importer == "services.catalog.config_file" and found.module == "services.hub"]
    assert lazy, "config_file's TYPE_CHECKING import of the Hub is read"


SHARED_ROOT = {"__init__", "hub", "db", "tables", "clock", "crypto", "errors"}
MAX_MODULE_LINES = 500
ONE_PIECE = "one piece"  # the phrase a longer module's docstring uses to say why it is not split


def test_the_services_root_holds_only_the_shared_modules() -> None:
    loose = sorted(path.stem for path in (ROOT / "services").glob("*.py") if path.stem not in SHARED_ROOT)
    assert loose == [], f"domain modules belong in a package under services/: {loose}"


def test_no_module_is_long_unless_its_docstring_says_why() -> None:
    long = []
    for path in project_files():
        lines = len(path.read_text().splitlines())
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > MAX_MODULE_LINES and ONE_PIECE not in docstring.lower():
            long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert long == [], "split these along their seams, or say in the docstring why each is one piece"
