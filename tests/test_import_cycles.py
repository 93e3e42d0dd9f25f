"""No import loop between the parts of ``syncline`` (see shared/DESIGN.md's layers).

Terms:

unit
    A top-level module of the package (``syncline.config``, ``syncline.rules_config``…) or a
    top-level sub-package with everything below it (``syncline.engine``,
    ``syncline.connectors``, ``syncline.service``…); the package's own ``__init__`` is the
    unit ``syncline``. Only imports from one unit to another count: a package's
    ``__init__`` re-exporting its own submodules, or one engine module importing another,
    is inside one unit.
import
    Every ``import`` and ``from … import`` statement in a module, wherever it stands: at
    module level, inside a function (a loop dodged with a function-local import is still a
    loop: the two units still need each other) or under ``if TYPE_CHECKING:`` (a type
    from a unit above is still a dependency on it). Relative imports are resolved.
loop
    A group of units each of which reaches every other through imports (a strongly
    connected component of the unit graph with more than one unit), shown as one cycle
    through it with an import statement for each step.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable, Mapping
from itertools import pairwise
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


ImportGraph = dict[str, dict[str, list[str]]]
"""unit -> unit it imports -> the import statements that make the edge
(``module -> imported (line N)``)."""


def _modules(root: Path, package: str) -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, whether it is a package's ``__init__``), for ``package`` under
    the source folder ``root``."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _unit(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _imported(node: ast.AST, package: str, modules: Mapping[str, object]) -> list[str]:
    """The modules (or packages) one import statement names; ``package`` is the importing
    module's package, for relative imports."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
        source = ".".join([*base, *([node.module] if node.module else [])])
    else:
        source = node.module or ""
    return [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
            for alias in node.names]


def import_graph(root: Path, package: str) -> ImportGraph:
    """The unit graph of ``package`` (see the module docstring) from its sources under
    ``root``."""
    modules = _modules(root, package)
    graph: ImportGraph = {}
    for name, (path, is_package) in modules.items():
        own_package = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for target in _imported(node, own_package, modules):
                if target != package and not target.startswith(package + "."):
                    continue
                source_unit, target_unit = _unit(name), _unit(target)
                if source_unit != target_unit:
                    graph.setdefault(source_unit, {}).setdefault(target_unit, []).append(
                        f"{name} -> {target} (line {getattr(node, 'lineno', '?')})")
    return graph


def loops(graph: Mapping[str, Iterable[str]]) -> list[frozenset[str]]:
    """The strongly connected groups of more than one node (Tarjan's algorithm)."""
    edges = {node: list(targets) for node, targets in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, []):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(frozenset(group))

    for node in sorted(set(edges) | {t for targets in edges.values() for t in targets}):
        if node not in index:
            visit(node)
    return found


def cycle_through(graph: Mapping[str, Iterable[str]], group: frozenset[str]) -> list[str]:
    """One shortest cycle inside ``group`` (a loop), from its first unit back to it."""
    start = min(group)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in sorted(graph.get(node, [])):
            if target not in group:
                continue
            if target == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if target not in came_from:
                came_from[target] = node
                queue.append(target)
    raise AssertionError(f"{sorted(group)} is not a loop")


def describe(graph: ImportGraph, group: frozenset[str]) -> str:
    """The loop as a cycle, each step with the first import statement that makes it."""
    cycle = cycle_through(graph, group)
    steps = [f"  {a} -> {b}: {graph[a][b][0]}" for a, b in pairwise(cycle)]
    return " -> ".join(cycle) + "\n" + "\n".join(steps)


def test_syncline_has_no_import_loop() -> None:
    graph = import_graph(SRC, "syncline")
    found = [describe(graph, group) for group in sorted(loops(graph), key=sorted)]
    assert not found, "import loops between units of syncline:\n" + "\n".join(found)


def test_the_walker_finds_a_loop_in_a_small_graph() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": [], "e": ["a"]}
    assert loops(graph) == [frozenset({"a", "b", "c"})]
    assert cycle_through(graph, frozenset({"a", "b", "c"})) == ["a", "b", "c", "a"]
    assert loops({"a": ["b"], "b": ["c"], "e": ["a", "c"]}) == []


def test_a_loop_dodged_by_a_function_local_import_is_found(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "low").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "high.py").write_text("from pkg.low.inner import helper\n")
    (package / "low" / "__init__.py").write_text("from .inner import helper\n")
    (package / "low" / "inner.py").write_text(
        "def helper() -> None:\n    from ..high import __name__ as high\n")
    (package / "side.py").write_text("import pkg.low\n")
    graph = import_graph(tmp_path, "pkg")
    assert loops(graph) == [frozenset({"pkg.high", "pkg.low"})]
    assert "pkg.low.inner -> pkg.high (line 2)" in describe(graph, loops(graph)[0])
    assert "pkg.side" not in {unit for group in loops(graph) for unit in group}
