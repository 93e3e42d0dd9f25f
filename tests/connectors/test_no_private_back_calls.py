"""The modules a connector package is split into work over context objects, not by calling
back into the connector (issue 15): no module of the package other than its connector
module(s) touches a private member of another object, or imports the connector module.

The rule checked (by parsing each module with :mod:`ast`, nothing is imported):

private access
    An attribute ``X._name`` (one leading underscore, not a dunder) where ``X`` is anything
    but the bare name ``self`` or ``cls``: ``connector._listing()``,
    ``self.connector._state``, ``owner._parse(...)``, ``site.state._read(...)`` all count,
    whatever the object is bound to, so no back-call hides behind a renamed variable. A
    class's own private members (``self._x``) are its own business. Named tuples' public
    methods (``_replace``, ``_asdict``, ``_fields``, ``_make``) are not private.
importing the connector
    ``from <package>.connector import ...`` (also under ``TYPE_CHECKING``) anywhere but in
    the package's ``__init__`` and connector modules: a module handed a context has no use
    for the connector's class.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import syncline.connectors

PACKAGES = ["vdir", "dav", "sql", "qbo", "xero"]
"""The connector packages split into modules over context objects."""

CONNECTOR_MODULES = {"__init__", "connector", "services"}
"""Modules that are, or define, the connector classes (dav's ``services`` holds
``CardDavConnector`` and ``CalDavConnector``); they may use the connector freely."""

NAMED_TUPLE_API = {"_replace", "_asdict", "_fields", "_make", "_field_defaults"}

ROOT = Path(syncline.connectors.__file__).parent


def private_accesses(source: str) -> list[str]:
    """The private accesses of ``source`` (see the module docstring), as ``line: text``."""
    found: list[ast.Attribute] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or name.startswith("__") or name in NAMED_TUPLE_API:
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        found.append(node)
    found.sort(key=lambda node: (node.lineno, node.col_offset))
    return [f"{node.lineno}: {ast.unparse(node)}" for node in found]


def connector_imports(source: str, package: str) -> list[str]:
    """The imports of ``package``'s connector module in ``source``, as ``line: text``."""
    module = f"syncline.connectors.{package}.connector"

    def imports_it(node: ast.AST) -> bool:
        if isinstance(node, ast.Import):
            return any(alias.name == module for alias in node.names)
        if not isinstance(node, ast.ImportFrom):
            return False
        if node.level == 0:
            return node.module == module
        return node.module == "connector" or (
            node.module is None and any(alias.name == "connector" for alias in node.names))

    found = sorted((node for node in ast.walk(ast.parse(source)) if imports_it(node)),
                   key=lambda node: getattr(node, "lineno", 0))
    return [f"{getattr(node, 'lineno', 0)}: {ast.unparse(node)}" for node in found]


def _modules(package: str) -> list[Path]:
    modules = sorted(path for path in (ROOT / package).glob("*.py")
                     if path.stem not in CONNECTOR_MODULES)
    assert modules, f"no modules found in {ROOT / package}"
    return modules


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_touches_a_private_member_of_another_object(package: str) -> None:
    offences = {path.name: found for path in _modules(package)
                if (found := private_accesses(path.read_text(encoding="utf-8")))}
    assert offences == {}


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_imports_the_connector(package: str) -> None:
    offences = {path.name: found for path in _modules(package)
                if (found := connector_imports(path.read_text(encoding="utf-8"), package))}
    assert offences == {}


BACK_CALLS = '''
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncline.connectors.vdir.connector import VdirConnector

def read_changes(connector: VdirConnector, cursor: str) -> None:
    listing = connector._listing()
    owner = connector
    owner._parse("key", b"", None)

class Reader:
    def __init__(self, connector: VdirConnector) -> None:
        self.connector = connector
        self._own = 1

    def read(self) -> int:
        self.connector._malformed_keys().clear()
        return self._own + self.connector.context.point._replace(x=1).x
'''


def test_the_walker_finds_back_calls() -> None:
    assert private_accesses(BACK_CALLS) == [
        "8: connector._listing", "10: owner._parse", "18: self.connector._malformed_keys"]
    assert connector_imports(BACK_CALLS, "vdir") == [
        "5: from syncline.connectors.vdir.connector import VdirConnector"]
    assert connector_imports("from .connector import X\nfrom . import connector\n",
                             "vdir") == ["1: from .connector import X",
                                         "2: from . import connector"]
    assert connector_imports("from syncline.connectors.vdir.state import X\n", "vdir") == []


def test_the_walker_finds_the_back_calls_vdir_had() -> None:
    """The incremental read as it was before the folder context: caught."""
    before = ("def read_changes(connector, cursor, scope):\n"
              "    listing = connector._listing()\n"
              "    connector._malformed_keys().difference_update(gone)\n"
              "    if not connector._in_dates(entry, scope):\n"
              "        record, bad = connector._parse(key, data, entry)\n")
    assert [line.split(": ")[1] for line in private_accesses(before)] == [
        "connector._listing", "connector._malformed_keys", "connector._in_dates",
        "connector._parse"]
