"""``syncline post`` runs through the service's one way in (:func:`syncline.service.run_link`),
as ``sync`` does: it takes the link's run lock (a link held by another process is reported
busy, exit code 3, the documents staying marked; ``--wait`` waits for it) and notifies as the
link's ``notify`` settings say (a signed webhook to a real receiver on 127.0.0.1)."""

from __future__ import annotations

import getpass
import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.test_post_errors import SEND_ALL_OFF
from engine.rules_support import Line, Order, World, build_world
from notify.support import webhook_receiver
from syncline.cli import app
from syncline.state.rules_store import RulesStore

SERVICE_TESTS = Path(__file__).parent.parent / "service"
SYNCLINE = Path(sys.executable).with_name("syncline")
TIMEOUT = 60  # generous bound on a subprocess step; never a timing assertion
HOOK_SECRET = "post-hook-secret-91c3"

ORDERS = [Order("INV-6001", 1, [Line("WIDGET-01", Decimal(2))]),
          Order("INV-6002", 2, [Line("CONSULT-HR", Decimal(1))])]  # no ledger account: blocked


def _world(folder: Path, rules: str = SEND_ALL_OFF) -> Iterator[World]:
    world = build_world(folder, orders=ORDERS, rules=rules)
    try:
        yield world
    finally:
        world.store.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path)


def _config(world: World) -> str:
    return str(world.folder / "syncline.toml")


def _post(runner: CliRunner, world: World, *args: str) -> Any:
    return runner.invoke(app, ["post", "crm-books", "-s", "invoice", *args,
                               "--config", _config(world)])


def _holder(url: str, link: str) -> subprocess.Popen[str]:
    """A process holding ``link``'s run lock (see ``tests/service/hold_lock.py``)."""
    process = subprocess.Popen([sys.executable, str(SERVICE_TESTS / "hold_lock.py"), url, link],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def _release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write("release\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "released"
    assert holder.wait(TIMEOUT) == 0


def test_post_takes_the_run_lock(runner: CliRunner, world: World) -> None:
    """While another process holds the link, ``post`` sends nothing and says the link is
    busy as ``sync`` does (exit code 3, naming the holder); the document stays marked.
    ``post --wait`` waits for the holder and posts once it lets go."""
    synced = runner.invoke(app, ["sync", "crm-books", "--config", _config(world)])
    assert synced.exit_code == 0, synced.output  # the contacts: the invoices wait for post
    runs = len(world.store.runs("crm-books"))
    holder = _holder(str(world.store.engine.url), "crm-books")
    try:
        busy = _post(runner, world, "-k", "INV-6001")
        assert busy.exit_code == 3, busy.output
        assert "crm-books: link 'crm-books' is busy: hold_lock.py by tester on" \
            in busy.stderr
        assert "the documents stay marked; the next run of crm-books sends them" \
            in busy.stderr
        sync = runner.invoke(app, ["sync", "crm-books", "--config", _config(world)])
        assert sync.exit_code == 3 and "link 'crm-books' is busy: hold_lock.py" in sync.stderr
        assert world.books_invoices() == {}
        assert len(world.store.runs("crm-books")) == runs  # a busy link gets no run row
        scope = world.store.scope_id("crm-books", "invoice")
        assert RulesStore(world.store).requested(scope) == {"1"}
        waiting = subprocess.Popen([str(SYNCLINE), "post", "crm-books", "-s", "invoice", "-k",
                                    "INV-6001", "--wait", "--json", "--config", _config(world)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert waiting.stderr is not None
            line = waiting.stderr.readline()
            assert "crm-books: waiting for hold_lock.py by tester on" in line, line
            assert waiting.poll() is None  # still waiting: the lock is held
            _release(holder)
            out, err = waiting.communicate(timeout=TIMEOUT)
        finally:
            waiting.kill()
            waiting.wait(TIMEOUT)
        assert waiting.returncode == 0, (out, err)
        assert [(item["document"], item["outcome"]) for item in json.loads(out)] == [
            ("INV-6001", "ok")]
    finally:
        holder.kill()
        holder.wait(TIMEOUT)
    assert sorted(world.books_invoices()) == ["INV-6001"]
    run = world.store.runs("crm-books")[0]
    assert (run["trigger"], run["user"]) == ("manual", getpass.getuser())
    assert RulesStore(world.store).requested(scope) == set()


def test_post_notifies_as_the_link_says(runner: CliRunner, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A post whose document a rule blocks (outcome ``error``) is notified by the link's
    signed webhook before the command ends, naming who posted; an ok post is not."""
    monkeypatch.setenv("TEST_POST_HOOK_SECRET", HOOK_SECRET)
    with webhook_receiver(HOOK_SECRET) as (url, hooks):
        notify = f"""
[links.crm-books.notify]
on = ["failed", "error"]
webhook = "{url}"
webhook_secret = "env:TEST_POST_HOOK_SECRET"
"""
        for world in _world(tmp_path, SEND_ALL_OFF + notify):
            synced = runner.invoke(app, ["sync", "crm-books", "--config", _config(world)])
            assert synced.exit_code == 0, synced.output
            posted = _post(runner, world, "-k", "INV-6001")
            assert posted.exit_code == 0, posted.output
            assert hooks.requests == []  # ok: nothing to tell
            blocked = _post(runner, world, "-k", "INV-6002", "--json")
            assert blocked.exit_code == 1, blocked.output
            assert json.loads(blocked.stdout)[0]["outcome"] == "error"
            run_id = world.store.runs("crm-books")[0]["id"]
    assert len(hooks.requests) == 1 and len(hooks.verified) == 1
    notice = json.loads(hooks.verified[0]["body"])
    assert (notice["event"], notice["run_id"], notice["trigger"], notice["mode"]) == (
        "run.error", run_id, "manual", "incremental")
    assert notice["requested_by"] == [getpass.getuser()]
    assert notice["counts"]["invoice"]["errors"] == 1
    assert [item["key"] for item in notice["items"]] == ["2"]
    assert HOOK_SECRET not in hooks.verified[0]["body"].decode()
