"""The two programs the DAV benchmark (``python -m bench.dav``) compares, run as a user runs them.

Terms:

tool
    ``syncline`` (the console script next to the running Python, i.e. ``.venv/bin/syncline``)
    or ``vdirsyncer`` (installed from PyPI into a virtualenv of its own, see
    :func:`vdirsyncer_binary`; never into syncline's environment).
measurement
    One whole process, from ``exec`` to exit: wall-clock seconds, CPU seconds (user + system,
    of that child alone: less disturbed by other work on a shared machine than wall-clock
    time) and its peak resident set (``ru_maxrss``), both from ``wait4``. Start-up and imports
    count, as they do for a user.

The children run with the caller's environment minus ``PYTHONDONTWRITEBYTECODE``: an installed
program has its bytecode cached (pip compiles it on install; syncline's editable sources are
compiled once by :func:`prepare_syncline`), and a benchmark should not recompile either
program on every run.
"""

from __future__ import annotations

import compileall
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Measurement",
    "ToolFailed",
    "child_environment",
    "measure",
    "prepare_syncline",
    "syncline_binary",
    "vdirsyncer_binary",
]

VDIRSYNCER_SPECS = ("vdirsyncer==0.21.*", "vdirsyncer==0.20.*", "vdirsyncer==0.19.*",
                    "vdirsyncer")
"""What to install, in order of preference (the issue measured 0.21)."""


class ToolFailed(RuntimeError):
    """A measured process exited with an error; the message holds its output's tail."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """One run of one tool: ``seconds`` of wall-clock time, ``peak_rss_mb`` and
    ``cpu_seconds`` (user + system)."""

    seconds: float
    peak_rss_mb: float
    cpu_seconds: float = 0.0


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the measured processes run with (see the module docstring)."""
    environment = {key: value for key, value in os.environ.items()
                   if key != "PYTHONDONTWRITEBYTECODE"}
    environment.update(extra or {})
    return environment


def measure(command: list[str], *, cwd: Path, environment: dict[str, str],
            accept: tuple[int, ...] = (0,)) -> Measurement:
    """Run ``command`` to its end and measure it; its output goes to a temporary file (a
    terminal would slow the tool that prints more).

    Raises:
        ToolFailed: the exit code is not in ``accept``.
    """
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=output,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode not in accept:
            output.seek(0)
            tail = output.read()[-3000:].decode(errors="replace")
            raise ToolFailed(f"{' '.join(command)} (in {cwd}) exited with "
                             f"{process.returncode}:\n{tail}")
    return Measurement(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def syncline_binary() -> Path:
    """The ``syncline`` console script of the environment running the benchmark.

    Raises:
        ToolFailed: there is none (syncline is not installed in this environment).
    """
    found = Path(sys.executable).parent / "syncline"
    if not found.exists():
        raise ToolFailed(f"no syncline console script next to {sys.executable}: install "
                         f"syncline into this environment (make bench does)")
    return found


def prepare_syncline() -> None:
    """Compile syncline's sources to bytecode once, as an installed program has them."""
    import syncline

    compileall.compile_dir(Path(syncline.__file__).parent, quiet=1)


def _cache_folder() -> Path:
    base = os.environ.get("SYNCLINE_BENCH_CACHE")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "syncline-bench"


def vdirsyncer_binary(log: bool = True) -> tuple[Path, str]:
    """The ``vdirsyncer`` program and its version, from a virtualenv of its own in the
    benchmark cache (``$SYNCLINE_BENCH_CACHE``, default ``~/.cache/syncline-bench``),
    created and filled from PyPI on first use.

    Raises:
        ToolFailed: no version of vdirsyncer installs.
    """
    venv = _cache_folder() / "vdirsyncer-venv"
    binary = venv / "bin" / "vdirsyncer"
    if not binary.exists():
        if log:
            print(f"installing vdirsyncer from PyPI into {venv} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        problems: list[str] = []
        for spec in VDIRSYNCER_SPECS:
            result = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install",
                                     "--quiet", "--disable-pip-version-check", spec],
                                    capture_output=True, text=True, check=False)
            if result.returncode == 0:
                break
            problems.append(f"{spec}: {result.stderr.strip()[-500:]}")
        else:
            raise ToolFailed("vdirsyncer could not be installed:\n" + "\n".join(problems))
    result = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                            check=False, env=child_environment())
    if result.returncode != 0:
        raise ToolFailed(f"{binary} --version failed: {result.stderr.strip()}")
    return binary, result.stdout.strip().rsplit(" ", 1)[-1]
