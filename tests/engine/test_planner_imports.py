"""The planner and the posting rules are pure: importing them (and the modules the planner
loads while it plans) loads neither the configuration layer (pydantic), nor the state store
(SQLAlchemy), nor a connector's protocol code.

Each check runs in a fresh interpreter, so that what other tests imported does not hide an
import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PLANNER_MODULES = (
    "syncline.engine.plan",
    "syncline.engine.rules",
    # loaded by the planner on first use (first pairings, diverged pairs, owned fields)
    "syncline.engine.first_pair",
    "syncline.engine.diverged",
    "syncline.engine.owned",
)

FORBIDDEN_PREFIXES = (
    "syncline.config",
    "syncline.rules_config",
    "syncline.service_config",
    "syncline.state",
    "syncline.connectors.sql",
    "syncline.service",
    "pydantic",
    "pydantic_core",
    "sqlalchemy",
    "httpx",
)


def _loaded_after(imports: str) -> list[str]:
    """The names in ``sys.modules`` after running ``imports`` in a fresh interpreter."""
    script = f"{imports}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def _forbidden(loaded: list[str]) -> list[str]:
    return [name for name in loaded
            if any(name == prefix or name.startswith(prefix + ".")
                   for prefix in FORBIDDEN_PREFIXES)]


@pytest.mark.parametrize("module", PLANNER_MODULES)
def test_a_planner_module_imports_no_config_state_pydantic_or_sqlalchemy(module: str) -> None:
    loaded = _loaded_after(f"import {module}")
    assert module in loaded
    assert _forbidden(loaded) == []


def test_plan_and_rules_together_stay_pure() -> None:
    loaded = _loaded_after("import syncline.engine.plan, syncline.engine.rules")
    assert _forbidden(loaded) == []


def test_the_check_sees_a_forbidden_import() -> None:
    """The check itself works: loading the config is seen."""
    loaded = _loaded_after("import syncline.engine.plan, syncline.config")
    assert {"syncline.config", "pydantic"} <= set(_forbidden(loaded))
