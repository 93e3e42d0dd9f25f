"""``syncline serve``: run the sync service in the foreground.

Runs the scheduler (every link on its schedule, ``on_startup`` links at once) with the
configuration's state store (embedded SQLite by default), serves the REST API
(:mod:`syncline.api`, ``--host`` / ``--port``, default ``127.0.0.1:8040``; ``--port 0``
takes a free port, logged at start) with the web console when it is installed, sends the
links' notifications (:mod:`syncline.notify`), and logs every run on stderr (secrets
scrubbed). API calls need a token: ``syncline user add NAME --role admin --token``.
SIGINT or SIGTERM stops it cleanly: no new run starts, runs going on finish, then it exits
0; a second signal abandons them at once (exit 130 / 143) — safe, as the engine resumes an
interrupted run without duplicates, and the run lock of an ended process is taken over.

Uvicorn takes the main thread; :class:`ServiceHost` runs the scheduler in a background
thread, started and stopped by the application's lifespan. The signals stay this command's:
the first also ends the open progress streams and tells uvicorn to stop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from syncline.cli.common import ConfigOption, load, open_store
from syncline.errors import UsageError

if TYPE_CHECKING:
    import uvicorn

__all__ = ["serve"]

log = logging.getLogger("syncline.service")


def serve(
    ctx: typer.Context,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, max=64, help="How many links may run at the same time.")] = 4,
    max_wait: Annotated[float, typer.Option(
        "--tick", min=0.05, max=3600, metavar="SECONDS",
        help="Look at the schedule at least this often.")] = 30.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
    host_name: Annotated[str, typer.Option(
        "--host", help="The address the REST API listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(
        "--port", min=0, max=65535, help="The REST API's port (0: any free one).")] = 8040,
    forwarded_allow_ips: Annotated[str | None, typer.Option(
        "--forwarded-allow-ips", metavar="ADDRESSES",
        help="Trust X-Forwarded-Proto / X-Forwarded-For from these proxy addresses "
             "(comma-separated, or '*'): behind an HTTPS proxy, cookies are then Secure "
             "and sign-in throttling counts the client's address. Default: trust none.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run the sync service and its REST API: every link on its schedule, until SIGINT /
    SIGTERM."""
    import uvicorn  # imported here: only this command needs the API (and no import cycle)

    from syncline.api import build_context, create_app

    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    loaded = load(ctx, config)
    listener = _listen(host_name, port)
    with open_store(loaded) as store, contextlib.closing(listener):
        context = build_context(loaded, store, workers=workers, max_wait=max_wait)
        _scrub_logs(context.secrets)
        _check_secret_key()
        if not context.users.users():
            log.warning("no users yet: every API call will be refused; add one with "
                        "'syncline user add NAME --role admin --token'")
        service = context.service
        host = context.host
        assert host is not None
        server = _server(uvicorn.Config(create_app(context), log_config=None,
                                        access_log=verbose, timeout_graceful_shutdown=10,
                                        lifespan="on",
                                        proxy_headers=forwarded_allow_ips is not None,
                                        forwarded_allow_ips=forwarded_allow_ips))
        stopping = threading.Event()

        def on_signal(number: int, _frame: FrameType | None) -> None:
            name = signal.Signals(number).name
            if stopping.is_set():
                log.warning("%s again: abandoning the runs going on (%s); the next run "
                            "resumes them", name, ", ".join(service.running_links()) or "none")
                logging.shutdown()
                os._exit(128 + number)
            stopping.set()
            running = service.running_links()
            log.info("%s: stopping%s", name, f"; finishing {', '.join(running)} (send "
                     f"{name} again to abandon)" if running else "")
            host.stop()
            context.hub.close()
            server.should_exit = True

        previous = {number: signal.signal(number, on_signal)
                    for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            for job in service.scheduler.jobs:
                due = job.next_due.isoformat() if job.next_due is not None else "manual"
                log.info("schedule %s; next %s", job.describe(), due)
            bound = listener.getsockname()
            log.info("syncline serve: %d links, state %s; API at http://%s:%d/api "
                     "(OpenAPI %s)", len(loaded.links),
                     store.engine.url.render_as_string(hide_password=True),
                     _shown_host(bound[0]), bound[1], "/api/openapi.json")
            server.run(sockets=[listener])  # its lifespan waits for the runs going on
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        log.info("syncline serve: stopped")


def _server(config: uvicorn.Config) -> uvicorn.Server:
    """Uvicorn without its own signal handlers (``serve`` keeps SIGINT / SIGTERM)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(config)


def _shown_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` for the API.

    Raises:
        UsageError: the address cannot be used (in use, or not an address of this host).
    """
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        listener = socket.socket(family, kind, protocol)
    except OSError as error:
        raise UsageError(f"--host {host}: not an address to listen on ({error})") from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except OSError as error:
        listener.close()
        raise UsageError(f"the API cannot listen on {host}:{port}: {error.strerror} (choose "
                         f"another with --port, or --port 0 for any free one)") from None
    listener.set_inheritable(True)
    return listener


def _check_secret_key() -> None:
    """Make sure the secret key the vault encrypts with is there (the key file is created
    on first start, permissions 0600); say where it comes from, never what it is."""
    from syncline.errors import ConfigError
    from syncline.vault import KEY_ENVIRONMENT_VARIABLE, default_key_file, load_cipher

    try:
        load_cipher()
    except ConfigError as error:
        log.warning("the secret key is not usable, so stored credentials and tokens cannot "
                    "be read: %s", error)
        return
    if os.environ.get(KEY_ENVIRONMENT_VARIABLE, "").strip():
        log.info("secrets at rest: encrypted with the key of $%s", KEY_ENVIRONMENT_VARIABLE)
    else:
        log.info("secrets at rest: encrypted with the key file %s", default_key_file())


def _scrub_logs(secrets: list[str]) -> None:
    """Keep the configuration's secrets out of every log line (see ScrubbingFilter)."""
    from syncline.redaction import install_log_scrubbing

    install_log_scrubbing(secrets)
