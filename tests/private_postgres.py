"""A private PostgreSQL server for tests that stop and start the state store's database.

:class:`PrivatePostgres` runs ``initdb`` and ``pg_ctl`` from the PostgreSQL server binaries
of this machine (``/usr/lib/postgresql/*/bin``, or ``PG_BIN``) on a free port of 127.0.0.1,
in a temporary folder. PostgreSQL refuses to run as root: as root, the server runs as the
user ``postgres`` (``runuser``). :func:`private_postgres` skips the test with the reason
when the binaries are missing, and fails instead under ``CI=true``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["PrivatePostgres", "private_postgres"]


def _binaries() -> Path | None:
    given = os.environ.get("PG_BIN")
    candidates = [given] if given else sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                                              reverse=True)
    for folder in candidates:
        if folder and (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivatePostgres:
    """One private server (see the module docstring); ``url`` names its database
    ``syncline`` (user ``postgres``, no password, trust on 127.0.0.1)."""

    def __init__(self, folder: Path, binaries: Path) -> None:
        self.folder = folder
        self.binaries = binaries
        self.data = folder / "data"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/syncline"
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *command: str, timeout: float = 60.0) -> None:
        done = subprocess.run([*self._as_user, *command], capture_output=True, text=True,
                              timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stdout}{done.stderr}")

    def init(self) -> None:
        """``initdb`` the data folder, start the server, create the database."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._as_user:
            shutil.chown(self.folder, "postgres")
            os.chmod(self.folder, 0o755)
        self._run(str(self.binaries / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--no-sync", "-E", "UTF8")
        self.start()
        self._run(str(self.binaries / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "postgres", "syncline")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
                  "-l", str(self.folder / "server.log"), "-o",
                  f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
                  f"-c fsync=off", "start")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the private PostgreSQL on port {self.port} did not start")

    def stop(self) -> None:
        """Stop the server at once (``pg_ctl stop -m immediate``: as a crash does)."""
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                  "-w", "stop")

    def running(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True


def private_postgres() -> Iterator[PrivatePostgres]:
    """A started :class:`PrivatePostgres` in a new folder of the temporary directory (one
    the user ``postgres`` can reach, unlike pytest's), stopped and removed afterwards (for
    a fixture). Skips (fails under ``CI=true``) when the server binaries are missing."""
    binaries = _binaries()
    if binaries is None:
        message = "the PostgreSQL server binaries (initdb, pg_ctl) are not installed " \
                  "(looked in /usr/lib/postgresql/*/bin and PG_BIN)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    folder = Path(tempfile.mkdtemp(prefix="syncline-pg-"))
    server = PrivatePostgres(folder, binaries)
    try:
        server.init()
        yield server
    finally:
        if server.running():
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
