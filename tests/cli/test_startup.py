"""Start-up cost of the ``syncline`` command: each command imports only what it uses, when it
runs (benchmarks time whole processes, start-up included).

Every check runs a fresh interpreter (a subprocess: this test process has long imported
everything) and looks at ``sys.modules`` when it ends. **Heavy** packages are the ones a
command must not load unless it uses them: the web stack (fastapi, uvicorn, jinja2), HTTP
(httpx, authlib), crypto (cryptography, argon2), croniter, CEL, and, for commands that
neither load a configuration nor open the state store, pydantic, SQLAlchemy and Rich.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import typer
from typer.main import get_command

from syncline.cli import app
from syncline.state.users_store import Role

WEB_HTTP_CRYPTO = frozenset({"fastapi", "uvicorn", "starlette", "jinja2", "httpx", "authlib",
                             "cryptography", "argon2", "croniter", "cel"})
"""Never loaded by a command that serves nothing, calls no HTTP API and uses no vault,
cron schedule or CEL rule."""

DATABASE_DRIVERS = frozenset({"psycopg", "pymysql"})
"""Loaded only by a run with a PostgreSQL or MariaDB endpoint or state store (their bulk
paths import them when they first write, not when syncline starts)."""

STORE_CONFIG_RICH = frozenset({"sqlalchemy", "pydantic", "rich"})
"""Loaded only by commands that read a configuration, open the state store or draw tables."""

_PROBE = textwrap.dedent("""\
    import json, sys
    code = 0
    try:
        from syncline.cli.main import main
        sys.argv = ["syncline", *{argv!r}]
        if {argv!r}:
            main()
    except SystemExit as done:
        code = done.code or 0
    loaded = sorted({{name.split(".")[0] for name in sys.modules}})
    print(json.dumps({{"code": code, "packages": loaded, "modules": sorted(sys.modules)}}),
          file=sys.stderr)
""")


def _probe(*argv: str, cwd: Path | None = None) -> dict[str, object]:
    """Run the CLI (or only import it, without ``argv``) in a fresh interpreter; its exit
    code, the top-level packages and the modules it loaded."""
    done = subprocess.run([sys.executable, "-c", _PROBE.format(argv=list(argv))],
                          capture_output=True, text=True, cwd=cwd, check=False, timeout=120)
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    assert last.startswith("{"), done.stderr
    result: dict[str, object] = json.loads(last)
    return result


def _packages(result: dict[str, object]) -> set[str]:
    packages = result["packages"]
    assert isinstance(packages, list)
    return set(packages)


def test_importing_the_cli_loads_no_web_http_crypto_or_cron_package() -> None:
    """The issue's check, on the tree as it is: ``import syncline.cli.main`` alone."""
    code = ("import syncline.cli.main, sys; print(sorted({m.split('.')[0] for m in sys.modules"
            " if m.split('.')[0] in {'fastapi','uvicorn','httpx','jinja2','authlib','argon2',"
            "'croniter','sqlalchemy','cryptography','cel','starlette'}}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    loaded = set(json.loads(done.stdout.replace("'", '"')))
    assert loaded & WEB_HTTP_CRYPTO == set()


def test_the_command_modules_load_nothing_heavy_when_imported() -> None:
    """No command module loads the store, the engine, the configuration (pydantic) or Rich:
    they come when a command runs."""
    result = _probe()
    assert _packages(result) & (WEB_HTTP_CRYPTO | STORE_CONFIG_RICH) == set()
    modules = result["modules"]
    assert isinstance(modules, list)
    assert {"syncline.config", "syncline.engine.sync", "syncline.state.store",
            "syncline.service", "syncline.vault", "syncline.cli.render"} & set(modules) == set()


def test_version_builds_every_command_without_loading_what_they_use() -> None:
    """``--version`` builds the whole command tree (Typer reads every signature): still
    nothing heavy."""
    result = _probe("--version")
    assert result["code"] == 0
    assert _packages(result) & (WEB_HTTP_CRYPTO | STORE_CONFIG_RICH) == set()


def _vdir_link(folder: Path) -> Path:
    """Two vdir folders linked for contacts, the first holding three cards."""
    config = folder / "syncline.toml"
    config.write_text(
        '[state]\nurl = "sqlite:///state.db"\n\n'
        '[endpoints.phone]\nconnector = "vdir"\npath = "phone"\nfileext = ".vcf"\n\n'
        '[endpoints.copy]\nconnector = "vdir"\npath = "copy"\nfileext = ".vcf"\n\n'
        '[links.phone-copy]\na = "phone"\nb = "copy"\nstreams = ["contact"]\n')
    (folder / "phone").mkdir()
    (folder / "copy").mkdir()
    for n, name in enumerate(("Ada Lovelace", "Alan Turing", "Grace Hopper")):
        first, _, last = name.partition(" ")
        (folder / "phone" / f"p{n}.vcf").write_text(
            f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:p{n}\r\nFN:{name}\r\nN:{last};{first};;;\r\n"
            "END:VCARD\r\n")
    return config


def test_a_vdir_sync_loads_only_what_it_needs(tmp_path: Path) -> None:
    """A sync of a small vdir link (first run, then a no-change run) reads the config and
    opens the store, and loads no web, HTTP, crypto, cron or CEL package."""
    config = _vdir_link(tmp_path)
    for _ in range(2):
        result = _probe("sync", "phone-copy", "--json", "--config", str(config), cwd=tmp_path)
        assert result["code"] == 0
        packages = _packages(result)
        assert {"sqlalchemy", "pydantic"} <= packages  # it did load the config and the store
        assert packages & WEB_HTTP_CRYPTO == set()
        assert packages & DATABASE_DRIVERS == set()  # an SQLite state store, vdir endpoints
        modules = result["modules"]
        assert isinstance(modules, list)
        # output to a pipe: plain progress lines, so Rich's progress bars never load
        assert "rich.progress" not in modules and "syncline.cli.progress_rich" not in modules
        # the run lock, not the scheduler, the worker queue or forced resynchronisation
        assert "syncline.service.lock" in modules
        assert {"syncline.service.scheduler", "syncline.service.service",
                "syncline.service.force"}.isdisjoint(modules)
    assert len(list((tmp_path / "copy").glob("*.vcf"))) == 3


def test_user_add_role_default_is_the_viewer_role() -> None:
    """``user add --role`` defaults to a literal (so that building the commands does not load
    the users store); it must stay :attr:`Role.VIEWER`."""
    group = get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    ctx = typer.Context(group)
    user = group.get_command(ctx, "user")
    assert isinstance(user, typer.core.TyperGroup)
    add = user.get_command(ctx, "add")
    assert add is not None
    role = next(param for param in add.params if param.name == "role")
    assert role.default == Role.VIEWER.value
