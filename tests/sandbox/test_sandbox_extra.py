"""The sandboxes' dependencies are an extra (``syncline[sandbox]``): the rest of syncline
never imports them, and ``syncline sandbox ...`` without them says how to install them
(exit code 2) instead of printing a traceback."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from syncline.cli.commands_sandbox import INSTALL_EXTRA, SANDBOX_EXTRA_MODULES, sandbox_extra
from syncline.errors import UsageError

SRC = Path(__file__).resolve().parents[2] / "src" / "syncline"
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

# Run in a fresh interpreter: a meta-path finder refuses the named top-level module (as if
# it were not installed), then the CLI runs `syncline sandbox xero` on a free port.
_HIDDEN_RUN = """
import sys
from importlib.abc import MetaPathFinder

HIDDEN = sys.argv[1]


class Hide(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == HIDDEN:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return None


sys.meta_path.insert(0, Hide())
sys.argv = ["syncline", "sandbox", "xero", "--port", "1", "--host", "127.0.0.1"]
from syncline.cli.main import main

main()
"""


def _requirement_name(text: str) -> str:
    match = re.match(r"[A-Za-z0-9_.\-]+", text)
    assert match, text
    return match.group(0).lower().replace("_", "-")


@pytest.mark.parametrize("hidden", ["fastjsonschema", "openapi_schema_validator", "yaml"])
def test_the_xero_sandbox_without_the_extra_says_how_to_install_it(hidden: str) -> None:
    done = subprocess.run([sys.executable, "-c", _HIDDEN_RUN, hidden], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert INSTALL_EXTRA in done.stderr
    assert f"no module '{hidden}'" in done.stderr
    assert "Traceback" not in done.stderr


def test_only_modules_of_the_extra_become_the_hint() -> None:
    hint = pytest.raises(UsageError, match=re.escape(INSTALL_EXTRA))
    with hint as caught, sandbox_extra():
        raise ModuleNotFoundError("No module named 'yaml.cyaml'", name="yaml.cyaml")
    assert caught.value.exit_code == 2
    with pytest.raises(ModuleNotFoundError, match="not_a_sandbox_module"), sandbox_extra():
        raise ModuleNotFoundError("No module named 'not_a_sandbox_module'",
                                  name="not_a_sandbox_module")


def test_nothing_outside_the_sandboxes_imports_the_extra() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if (SRC / "sandbox") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) \
                else [node.module or ""] if isinstance(node, ast.ImportFrom) \
                and not node.level else []
            found += [f"{path.relative_to(SRC)}: {name}" for name in names
                      if name.partition(".")[0] in SANDBOX_EXTRA_MODULES]
    assert found == []


def test_the_extra_is_declared_and_the_tests_install_it() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    extra = {_requirement_name(text) for text in project["optional-dependencies"]["sandbox"]}
    assert extra == {"fastjsonschema", "jsonschema", "openapi-schema-validator", "pyyaml"}
    assert not extra & {_requirement_name(text) for text in project["dependencies"]}
    assert "syncline[sandbox]" in project["optional-dependencies"]["test"]
