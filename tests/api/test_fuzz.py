"""The API fuzzed by schemathesis (a client nobody here wrote, driven by the published
OpenAPI document): ``syncline serve`` as a real process on 127.0.0.1 over a SQLite-to-SQLite
link, an admin token, a seeded and bounded run (a fixed number of cases per operation, a
time budget). No answer may be a 5xx, and every answer must match the document: its status
documented, its content type and body as described (error answers as problem details).

Left out of the fuzzing: the progress streams (``/events``: server-sent events that never
end) and revoking an API token (it could revoke the fuzzer's own token; bounded ids of that
route are checked in ``test_hardening``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from cli.helpers import make_sql

from .support import serve_process, stop_process

SYNCLINE = Path(sys.executable).with_name("syncline")
SCHEMATHESIS = Path(sys.executable).with_name("st")
TIMEOUT = 60.0
SEED = 14
CASES_PER_OPERATION = 25
TIME_BUDGET_S = 90
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance")


def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    pair = make_sql(tmp_path)
    environment = {name: value for name, value in os.environ.items()
                   if name != "SYNCLINE_SECRET_KEY"}
    environment["XDG_CONFIG_HOME"] = str(tmp_path / "config-home")
    made = subprocess.run([str(SYNCLINE), "user", "add", "fuzzer", "--role", "admin",
                           "--token", "--config", str(pair.config)],
                          capture_output=True, text=True, timeout=TIMEOUT, env=environment)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    process, base = serve_process(pair.config, environment)
    try:
        started = time.monotonic()
        fuzzed = subprocess.run(
            [str(SCHEMATHESIS), "run", f"{base}/api/openapi.json",
             "--header", f"Authorization: Bearer {token}",
             "--checks", CHECKS, "--seed", str(SEED),
             "--max-examples", str(CASES_PER_OPERATION), "--max-time", str(TIME_BUDGET_S),
             "--generation-database", "none", "--no-shrink", "--workers", "1",
             "--request-timeout", "30", "--no-color", "--continue-on-failure",
             "--exclude-path-regex", "/events$",
             "--exclude-path", "/api/tokens/{token_id}"],
            capture_output=True, text=True, timeout=TIME_BUDGET_S + 120, env=environment,
            cwd=tmp_path)
        took = time.monotonic() - started
        output = fuzzed.stdout + fuzzed.stderr
        assert fuzzed.returncode == 0, output[-8000:]
        selected = re.search(r"Tested: (\d+)", output)
        assert selected is not None and int(selected.group(1)) >= 30, output[-3000:]
        generated = re.search(r"(\d+) generated", output)
        assert generated is not None and int(generated.group(1)) >= 1000, output[-3000:]
        assert took < TIME_BUDGET_S + 60, took
    finally:
        stop_process(process)
