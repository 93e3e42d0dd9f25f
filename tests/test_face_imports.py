"""The import wall of the faces: ``syncline.cli``, ``syncline.api`` and ``syncline.web``
import the service and the model, never the engine, the state store or the connectors.

Every module of the three packages is read with :mod:`ast` (not imported): each ``import
x``, ``from x import y`` (relative ones resolved) and ``importlib.import_module("x")`` with a
literal name counts, wherever it stands (module level, inside a function, under
``TYPE_CHECKING``). An **imported name** is the dotted target: ``from syncline.engine import
SyncEngine`` imports ``syncline.engine.SyncEngine``; ``import syncline.state.store`` imports
``syncline.state.store``.

What a face may import from syncline (anything else is a failure):

* its own package (``syncline.cli.*`` from ``syncline.cli``, and so on);
* :data:`SHARED`: the service (every module under ``syncline.service``, which re-exports the
  few plain values a face names: roles, users, capabilities, run summaries and outcomes),
  the model and the planner's plain value types (link direction, conflict policy), the one
  exception tree, the checked configuration, secret redaction, a run's
  stop signal, and the package's version;
* :data:`ONLY_FROM`: a few packages only from the modules named, each with its reason (the
  vault for ``syncline secret`` and ``serve``; the sandboxes and the demo for their own
  commands; the notifier where the API application is put together; the API from the web
  console, which mounts on the API application, and from ``syncline serve``, the composition
  root that builds the application — the API does not import the CLI, so ``cli`` stays above
  ``api``);
* :data:`EXCEPTIONS`: single imported names, each with its reason.

``syncline.engine``, ``syncline.state`` and ``syncline.connectors`` (:data:`FORBIDDEN`) are
never allowed by :data:`SHARED` or :data:`ONLY_FROM`; only an entry of :data:`EXCEPTIONS`
lets one through, and an entry nothing uses any more fails the test too (remove it).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import syncline

SOURCE_ROOT = Path(syncline.__file__).resolve().parent.parent
FACES = ("syncline.cli", "syncline.api", "syncline.web")

FORBIDDEN = ("syncline.engine", "syncline.state", "syncline.connectors")
"""Below the service: a face never imports them (see :data:`EXCEPTIONS`)."""

SHARED = ("syncline.service", "syncline.model", "syncline.plan_types", "syncline.errors",
          "syncline.config", "syncline.redaction", "syncline.run_context", "syncline.__version__")
"""What every face may import."""

_WEB_MODULES = "syncline.web"
ONLY_FROM: dict[str, tuple[tuple[str, ...], str]] = {
    "syncline.vault": (("syncline.cli.commands_secret", "syncline.cli.commands_serve"),
                       "syncline secret manages the vault; serve checks its key at start"),
    "syncline.sandbox": (("syncline.cli.commands_sandbox",),
                         "syncline sandbox starts the stand-in services"),
    "syncline.demo": (("syncline.cli.commands_project",), "syncline demo builds the demo"),
    "syncline.notify": (("syncline.api.app", "syncline.api.context"),
                        "the API application wires the notifier to the service it builds"),
    "syncline.api": (("syncline.cli.commands_serve", _WEB_MODULES),
                     "serve builds the API application (the composition root); the web "
                     "console mounts on that application and shares its context"),
    "syncline.web": (("syncline.api.app",),
                     "the API application mounts the console when it is installed"),
}
"""Imported name prefix -> (the modules, or packages, that may import it; why)."""

EXCEPTIONS: dict[tuple[str, str], str] = {}
"""(importing module, imported name) -> why it is allowed. None today: every run is started
through the service (its request type, mode, trigger, read scope and lease come from
``syncline.service``). An entry added here must say why the service cannot give it."""


@dataclass(frozen=True)
class Imported:
    """One imported name in one module: where (file, line) and the statement's text."""

    module: str
    name: str
    path: Path
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text} (imports {self.name})"


def _is_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute module a (possibly relative) ``from`` import reads from."""
    if level == 0:
        return target or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[:len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, *([target] if target else [])])


def imports_of(source: str, module: str, path: Path, *,
               is_package: bool = False) -> Iterator[Imported]:
    """Every syncline name ``source`` (the text of ``module``) imports, anywhere in it."""
    tree = ast.parse(source, filename=str(path))
    lines = source.splitlines()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            origin = _resolve(module, is_package, node.level, node.module)
            names = [f"{origin}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call) and node.args \
                and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) \
                and (getattr(node.func, "attr", None) == "import_module"
                     or getattr(node.func, "id", None) == "import_module"):
            names = [node.args[0].value]
        if not names:
            continue
        line = getattr(node, "lineno", 0)
        text = lines[line - 1].strip()
        for name in names:
            if _is_under(name, "syncline"):
                yield Imported(module, name, path, line, text)


def problem(found: Imported) -> str | None:
    """Why ``found`` is not allowed, or ``None`` when it is."""
    own = ".".join(found.module.split(".")[:2])
    if (found.module, found.name) in EXCEPTIONS:
        return None
    if any(_is_under(found.name, prefix) for prefix in FORBIDDEN):
        return "a face imports the service and the model, never engine, state or connectors"
    if _is_under(found.name, own) or any(_is_under(found.name, prefix) for prefix in SHARED):
        return None
    for prefix, (importers, _reason) in ONLY_FROM.items():
        if _is_under(found.name, prefix):
            if any(_is_under(found.module, importer) for importer in importers):
                return None
            return f"only {', '.join(importers)} may import {prefix}"
    return "not something a face imports (see SHARED and ONLY_FROM in this test)"


def face_modules() -> Iterator[tuple[str, Path]]:
    """Every module of the faces: its dotted name and its file."""
    for face in FACES:
        folder = SOURCE_ROOT.joinpath(*face.split("."))
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(SOURCE_ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield ".".join(parts), path


def all_imports() -> list[Imported]:
    return [found for module, path in face_modules()
            for found in imports_of(path.read_text(encoding="utf-8"), module, path,
                                    is_package=path.name == "__init__.py")]


def test_faces_import_only_the_service_the_model_and_the_listed_exceptions() -> None:
    modules = dict(face_modules())
    assert {"syncline.cli.main", "syncline.api.app", "syncline.web.routes_review"} <= set(
        modules), "the walker found no face modules"
    wrong = [f"{found}: {why}" for found in all_imports()
             if (why := problem(found)) is not None]
    assert not wrong, "forbidden imports in the faces:\n" + "\n".join(wrong)


def test_every_exception_is_still_needed() -> None:
    used = {(found.module, found.name) for found in all_imports()}
    stale = sorted(set(EXCEPTIONS) - used)
    assert not stale, f"remove these EXCEPTIONS, nothing imports them any more: {stale}"


_SNIPPET = '''
from __future__ import annotations
from typing import TYPE_CHECKING
import syncline.service.stores
from syncline.errors import UsageError
from syncline.service.review import journal_rows
if TYPE_CHECKING:
    from syncline.state.store import StateStore
def later():
    from syncline.engine import open_endpoint
    import syncline.connectors.dav.client as dav
    from ..engine import sync
    from syncline import state
    import importlib
    importlib.import_module("syncline.engine.plan")
    from syncline.vault import Vault
class Inside:
    from syncline.engine.sync import SyncEngine
'''


def test_the_walker_finds_every_kind_of_forbidden_import() -> None:
    found = list(imports_of(_SNIPPET, "syncline.cli.example", Path("example.py")))
    refused = {(item.name, item.line) for item in found if problem(item) is not None}
    assert refused == {
        ("syncline.state.store.StateStore", 8),
        ("syncline.engine.open_endpoint", 10),
        ("syncline.connectors.dav.client", 11),
        ("syncline.engine.sync", 12),
        ("syncline.state", 13),
        ("syncline.engine.plan", 15),
        ("syncline.vault.Vault", 16),
        ("syncline.engine.sync.SyncEngine", 18),
    }
    allowed = {item.name for item in found if problem(item) is None}
    assert allowed == {"syncline.service.stores", "syncline.errors.UsageError",
                       "syncline.service.review.journal_rows"}
    message = str(next(item for item in found if item.line == 10))
    assert message == ("example.py:10: from syncline.engine import open_endpoint "
                       "(imports syncline.engine.open_endpoint)")


@pytest.mark.parametrize(("module", "is_package", "level", "target", "expected"), [
    ("syncline.web.routes_review", False, 1, "common", "syncline.web.common"),
    ("syncline.web", True, 1, "common", "syncline.web.common"),
    ("syncline.web.routes_review", False, 2, "engine", "syncline.engine"),
    ("syncline.cli.main", False, 0, "syncline.state", "syncline.state"),
])
def test_relative_imports_resolve(module: str, is_package: bool, level: int, target: str,
                                  expected: str) -> None:
    assert _resolve(module, is_package, level, target) == expected


def test_an_exception_lets_only_its_own_module_through(monkeypatch: pytest.MonkeyPatch) -> None:
    module, name = "syncline.cli.commands_sync", "syncline.engine.SyncEngine"
    monkeypatch.setitem(EXCEPTIONS, (module, name), "a reason")
    elsewhere = Imported("syncline.cli.commands_info", name, Path("x.py"), 1, "")
    assert problem(Imported(module, name, Path("x.py"), 1, "")) is None
    assert problem(elsewhere) is not None
