"""Review over the API and the console (issue 13, defect 10): errors grouped by cause (kind,
field, value) with their record keys, and conflicts compared only on the fields both sides
map. The CLI sees the same (``syncline errors``, ``syncline conflicts``)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from typer.testing import CliRunner

from syncline.cli import app
from syncline.config import load_config
from syncline.connectors.memory import MemoryStore, shared_store
from syncline.state.users_store import Role

from .support import serve_api, sign_in


def _config(tmp_path: Path, *, a_fields: str, b_fields: str,
            conflict: str = "manual") -> tuple[Path, MemoryStore, MemoryStore]:
    unique = uuid.uuid4().hex
    path = tmp_path / "syncline.toml"
    path.write_text(f"""\
[state]
url = "sqlite:///{tmp_path / 'state.db'}"
[endpoints.left]
connector = "memory"
name = "left-{unique}"
[endpoints.left.streams.contact]
fields = [{a_fields}]
[endpoints.right]
connector = "memory"
name = "right-{unique}"
[endpoints.right.streams.contact]
fields = [{b_fields}]
[links.lr]
a = "left"
b = "right"
streams = ["contact"]
conflict = "{conflict}"
schedule = "manual"
match = {{ contact = ["email"] }}
""", encoding="utf-8")
    return path, shared_store(f"left-{unique}"), shared_store(f"right-{unique}")


@contextmanager
def _signed_in(url: str, role: Role) -> Iterator[httpx.Client]:
    """A console client signed in as the user of ``role`` (see ``serve_api``)."""
    with httpx.Client(base_url=url, timeout=30.0) as client:
        answer = sign_in(client, role.value, f"{role.value}-password")
        assert answer.status_code == 303, answer.text
        yield client


def test_the_conflict_view_compares_only_fields_both_sides_map(tmp_path: Path) -> None:
    runner = CliRunner(env={"COLUMNS": "200"})
    path, a, b = _config(tmp_path, a_fields='"name", "email", "phone", "notes"',
                         b_fields='"name", "email", "phone", "city"')
    args = ["--config", str(path)]
    a.put("contact", "k1", {"name": "Ada", "email": "ada@example.com", "phone": "1",
                            "notes": "met at the fair"})
    assert runner.invoke(app, ["sync", "lr", *args]).exit_code == 0
    (b_key,) = b.stream("contact")
    b.put("contact", b_key, {"name": "Ada", "email": "ada@example.com", "phone": "3",
                             "city": "London"})
    a.put("contact", "k1", {"name": "Ada", "email": "ada@example.com", "phone": "2",
                            "notes": "met at the fair"})
    synced = runner.invoke(app, ["sync", "lr", "--json", *args])
    assert json.loads(synced.stdout)["streams"]["contact"]["conflicts"] == 1, synced.output

    (listed,) = json.loads(runner.invoke(app, ["conflicts", "lr", "--json", *args]).stdout)
    assert listed["a_fields"]["notes"] == "met at the fair"  # both versions are kept whole
    assert listed["b_fields"]["city"] == "London"
    assert listed["differing"] == ["phone"]  # notes and city: only one side maps them
    table = runner.invoke(app, ["conflicts", "lr", *args]).stdout
    assert "phone" in table and "notes" not in table and "city" not in table

    with serve_api(load_config(path)) as api:
        (row,) = api.client(Role.VIEWER).get("/api/links/lr/conflicts").json()
        assert row["differing"] == ["phone"]
        with _signed_in(api.url, Role.OPERATOR) as console:
            page = console.get("/links/lr/review").text
    rows = dict(re.findall(r'<tr data-field="(\w+)"([^>]*)>', page))
    assert set(rows) == {"name", "email", "phone", "notes", "city"}
    assert "differs-row" in rows["phone"]
    for one_sided in ("notes", "city"):
        assert "differs" not in rows[one_sided] and 'data-compared="no"' in rows[one_sided]
    assert 'name="field.phone"' in page and 'name="field.notes"' not in page


def test_errors_of_one_cause_are_one_group_in_the_api_and_the_console(tmp_path: Path) -> None:
    runner = CliRunner(env={"COLUMNS": "200"})
    path, a, b = _config(tmp_path, a_fields='"name", "email", "phone"',
                         b_fields='"name", "email", "phone"', conflict="a-wins")
    args = ["--config", str(path)]
    for number in range(5):
        a.put("contact", f"k{number}", {"name": f"P{number}", "email": f"{number}@x.org",
                                        "phone": "1"})
    assert runner.invoke(app, ["sync", "lr", *args]).exit_code == 0
    b.fail_keys.update(b.stream("contact"))  # every write to these five is refused
    for number in range(5):
        a.put("contact", f"k{number}", {"name": f"P{number}", "email": f"{number}@x.org",
                                        "phone": "2"})
    synced = runner.invoke(app, ["sync", "lr", *args])
    assert synced.exit_code == 1, synced.output
    assert "run `syncline errors lr` to see them grouped by cause" in synced.stdout

    with serve_api(load_config(path)) as api:
        (group,) = api.client(Role.VIEWER).get("/api/links/lr/errors").json()
        with _signed_in(api.url, Role.VIEWER) as console:
            page = console.get("/links/lr/review").text
    assert group["count"] == 5
    assert sorted(group["keys"]) == [f"k{number}" for number in range(5)]
    assert (group["kind"], group["field"], group["value"]) == (
        "ValidationFailed", None, "rejected by the memory store")
    assert group["cause"] == "rejected by the memory store"
    assert page.count('<div class="group"') == 1
    assert re.search(r'class="group-count">5<', page)
    keys = re.search(r'<div class="group"[^>]* data-keys="([^"]*)"', page)
    assert keys is not None and sorted(keys.group(1).split()) == [
        f"k{number}" for number in range(5)]
    shown = re.search(r'<p class="mono">([^<]*)</p>', page)  # as the messages name them
    assert shown is not None and sorted(shown.group(1).split(", ")) == sorted(
        b.stream("contact"))
