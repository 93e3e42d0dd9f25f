"""A record a connector cannot read (here a vCard file someone broke in a vdir folder) is a
pending item: ``syncline errors`` lists it with its problem, ``status`` counts it, every run
reads it again, and once it can be read it syncs and leaves the list (issue 13 follow-up,
defect E)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from syncline.cli import app


def _card(uid: str, name: str) -> str:
    first, _, last = name.partition(" ")
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{last};{first};;;\r\n"
            "END:VCARD\r\n")


BROKEN = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN Oliver Bennett\r\nEND:VCARD\r\n"


def _run(runner: CliRunner, config: Path, *command: str, expected: int = 0) -> str:
    result = runner.invoke(app, [*command, "--config", str(config)])
    assert "Traceback" not in result.output
    assert result.exit_code == expected, result.output
    return " ".join(result.output.split())


def _pending(runner: CliRunner, config: Path) -> int:
    return int(json.loads(_run(runner, config, "status", "phone-copy", "--json"))
               ["pending_items"])


def _copies(tmp_path: Path) -> list[str]:
    return sorted(path.read_text() for path in (tmp_path / "copy").glob("*.vcf"))


def test_a_malformed_card_is_pending_until_fixed(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "syncline.toml"
    config.write_text(
        '[state]\nurl = "sqlite:///state.db"\n\n'
        '[endpoints.phone]\nconnector = "vdir"\npath = "phone"\nfileext = ".vcf"\n\n'
        '[endpoints.copy]\nconnector = "vdir"\npath = "copy"\nfileext = ".vcf"\n\n'
        '[links.phone-copy]\na = "phone"\nb = "copy"\nstreams = ["contact"]\n')
    phone = tmp_path / "phone"
    phone.mkdir()
    (phone / "p0.vcf").write_text(_card("p0", "Margaret Hughes"))
    (phone / "p1.vcf").write_text(_card("p1", "Oliver Bennett"))
    _run(runner, config, "sync", "phone-copy")
    assert _pending(runner, config) == 0

    (phone / "p1.vcf").write_text(BROKEN)
    for _ in range(2):  # listed after every run, and read again by the next
        output = _run(runner, config, "sync", "phone-copy", expected=1)
        assert "line 3: no ':'" in output and "errors phone-copy" in output
        listed = _run(runner, config, "errors", "phone-copy")
        assert "p1" in listed and "no ':'" in listed
        assert _pending(runner, config) == 1
        assert sum("Oliver Bennett" in text for text in _copies(tmp_path)) == 1  # kept

    # put back as it was: nothing to write, and it leaves the list all the same
    (phone / "p1.vcf").write_text(_card("p1", "Oliver Bennett"))
    _run(runner, config, "sync", "phone-copy")
    assert _pending(runner, config) == 0
    assert "no blocked records" in _run(runner, config, "errors", "phone-copy")

    # broken and then fixed with a change: the change goes over
    (phone / "p1.vcf").write_text(BROKEN)
    _run(runner, config, "sync", "phone-copy", expected=1)
    (phone / "p1.vcf").write_text(_card("p1", "Oliver Bennett-Hughes"))
    _run(runner, config, "sync", "phone-copy")
    assert _pending(runner, config) == 0
    assert sum("Oliver Bennett-Hughes" in text for text in _copies(tmp_path)) == 1
    assert len(_copies(tmp_path)) == 2
