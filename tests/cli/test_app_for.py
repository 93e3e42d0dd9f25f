"""The ``syncline`` script builds only the command it runs (:func:`syncline.cli.main.app_for`):
the same command as the whole app, a fraction of the start-up. Help, ``--version`` and
unknown commands get the whole app, so that they list every command."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from syncline.cli.main import app, app_for


@pytest.mark.parametrize(("arguments", "commands", "groups"), [
    (["sync", "--json"], ["sync"], []),
    (["--config", "x.toml", "status", "crm-books"], ["status"], []),
    (["-c", "x.toml", "journal"], ["journal"], []),
    (["--config=x.toml", "user", "list"], [], ["user"]),
    (["sandbox", "xero"], [], ["sandbox"]),
])
def test_a_named_command_is_built_alone(arguments: list[str], commands: list[str],
                                        groups: list[str]) -> None:
    trimmed = app_for(arguments)
    assert trimmed is not app
    assert [info.name for info in trimmed.registered_commands] == commands
    assert [info.typer_instance.info.name for info in trimmed.registered_groups
            if info.typer_instance is not None] == groups
    assert len(app.registered_commands) > 10  # the whole app is left as it was


@pytest.mark.parametrize("arguments", [[], ["--help"], ["--version"], ["nosuch"],
                                       ["--config", "x.toml"]])
def test_help_version_and_unknown_commands_get_the_whole_app(arguments: list[str]) -> None:
    assert app_for(arguments) is app


def test_the_script_runs_a_command_as_the_whole_app_does() -> None:
    whole = CliRunner().invoke(app, ["connectors"], env={"COLUMNS": "200"})
    script = subprocess.run([sys.executable, "-c", "from syncline.cli.main import main; "
                             "import sys; sys.argv = ['syncline', 'connectors']; main()"],
                            capture_output=True, text=True, check=False,
                            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert script.returncode == whole.exit_code == 0
    assert [line.split() for line in script.stdout.splitlines() if line.strip()] \
        == [line.split() for line in whole.output.splitlines() if line.strip()]


def test_the_script_lists_every_command_for_an_unknown_one() -> None:
    done = subprocess.run([sys.executable, "-c", "from syncline.cli.main import main; "
                           "import sys; sys.argv = ['syncline', 'nosuch']; main()"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "No such command 'nosuch'" in done.stderr
