"""``syncline serve`` as a real process serves the API: a user made with ``syncline user``
signs its calls with the token; without it, 401; a sync started over HTTP streams its
progress as server-sent events and is recorded as that user's; SIGTERM stops it cleanly,
and its log holds no token."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from cli.helpers import PipeLines, make_sql

from .support import read_events

SYNCLINE = Path(sys.executable).with_name("syncline")
TIMEOUT = 60.0




def test_serve_serves_the_api_to_users_with_tokens(tmp_path: Path) -> None:
    pair = make_sql(tmp_path)
    environment = {name: value for name, value in os.environ.items()
                   if name != "SYNCLINE_SECRET_KEY"}
    environment["XDG_CONFIG_HOME"] = str(tmp_path / "config-home")
    key_file = tmp_path / "config-home" / "syncline" / "secret.key"
    made = subprocess.run([str(SYNCLINE), "user", "add", "ops", "--role", "operator",
                           "--token", "--config", str(pair.config)],
                          capture_output=True, text=True, timeout=TIMEOUT, env=environment)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    process = subprocess.Popen([str(SYNCLINE), "serve", "--port", "0", "--tick", "0.2",
                                "--config", str(pair.config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=environment)
    log = PipeLines(process.stderr)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (found := re.search(r"API at (http://127\.0\.0\.1:\d+)/api", log.text())):
            assert process.poll() is None, log.text()
            assert time.monotonic() < deadline, "serve did not say where the API is"
            time.sleep(0.05)
        base = found.group(1)
        anonymous = httpx.Client(base_url=base, timeout=30)
        wait_until = time.monotonic() + TIMEOUT
        while True:  # the log line comes just before uvicorn accepts
            try:
                answer = anonymous.get("/api/links")
                break
            except httpx.ConnectError:
                assert time.monotonic() < wait_until
                time.sleep(0.05)
        assert answer.status_code == 401
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # made on first start
        ops = httpx.Client(base_url=base, timeout=30,
                           headers={"Authorization": f"Bearer {token}"})
        (status,) = ops.get("/api/links").json()
        assert status["link"] == "crm-books" and status["next_run"] is not None
        with ops.stream("GET", "/api/links/crm-books/events") as stream:
            lines = stream.iter_lines()
            read_events(lines, "snapshot")
            assert ops.post("/api/links/crm-books/force-sync").status_code == 403
            started = ops.post("/api/links/crm-books/sync", json={"streams": ["contact"]})
            assert started.status_code == 202 and started.json()["status"] == "started"
            events = read_events(lines, "run_finished")
        kinds = [event["event"] for event in events]
        assert kinds[0] == "run_started" and "stream_started" in kinds
        finished = events[-1]["data"]
        assert finished["outcome"] == "ok"
        run = ops.get(f"/api/runs/{finished['run_id']}").json()
        assert run["user"] == "ops" and run["trigger"] == "api"
        assert len(pair.customers()) == 3
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)
    log.join()
    text = log.text()
    assert "Traceback" not in text and token not in text
    assert "syncline serve: stopped" in text
    assert f"secrets at rest: encrypted with the key file {key_file}" in text
    assert key_file.read_bytes().strip().decode() not in text
    assert "no users yet" not in text
