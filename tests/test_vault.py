"""The vault: secrets encrypted at rest, with the key from the environment or a key file."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from cli.helpers import make_sql
from syncline.cli import app
from syncline.config import load_config
from syncline.errors import ConfigError
from syncline.redaction import config_secrets, mask_settings
from syncline.secret_values import resolve_secret
from syncline.vault import KEY_ENVIRONMENT_VARIABLE, VAULT_ENVIRONMENT_VARIABLE, Vault, load_cipher

SECRET = "refresh-9f1c2e7a-plain-text-token"


@pytest.fixture(autouse=True)
def _no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENVIRONMENT_VARIABLE, raising=False)


def test_round_trip_and_ciphertext_only(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault.json", key_file=tmp_path / "keys" / "secret.key")
    assert vault.get("books/oauth") is None
    vault.put("books/oauth", {"refresh_token": SECRET, "expires_at": 123})
    assert vault.get("books/oauth") == {"refresh_token": SECRET, "expires_at": 123}
    raw = (tmp_path / "vault.json").read_bytes()
    assert SECRET.encode() not in raw and b"refresh_token" not in raw
    assert stat.S_IMODE((tmp_path / "vault.json").stat().st_mode) == 0o600
    assert vault.names() == ["books/oauth"]


def test_key_file_is_created_once_with_owner_only_permissions(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "secret.key"
    Vault(tmp_path / "v.json", key_file=key_file).put("a", {"x": 1})
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first = key_file.read_bytes()
    # a second vault object (another process, later) uses the same key and can decrypt
    assert Vault(tmp_path / "v.json", key_file=key_file).get("a") == {"x": 1}
    assert key_file.read_bytes() == first


def test_key_from_environment_wins_and_rotates(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    key_file = tmp_path / "unused.key"
    monkeypatch.setenv(KEY_ENVIRONMENT_VARIABLE, old)
    Vault(tmp_path / "v.json", key_file=key_file).put("a", {"token": SECRET})
    assert not key_file.exists()
    monkeypatch.setenv(KEY_ENVIRONMENT_VARIABLE, f"{new},{old}")
    rotated = Vault(tmp_path / "v.json", key_file=key_file)
    assert rotated.get("a") == {"token": SECRET}
    rotated.put("b", {"token": "other"})
    monkeypatch.setenv(KEY_ENVIRONMENT_VARIABLE, new)
    assert Vault(tmp_path / "v.json").get("b") == {"token": "other"}
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        Vault(tmp_path / "v.json").get("a")


def test_bad_keys_and_bad_files_are_config_errors(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENVIRONMENT_VARIABLE, "not-a-key")
    with pytest.raises(ConfigError, match=KEY_ENVIRONMENT_VARIABLE):
        load_cipher()
    monkeypatch.delenv(KEY_ENVIRONMENT_VARIABLE)
    empty = tmp_path / "empty.key"
    empty.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_cipher(empty)
    not_vault = tmp_path / "other.json"
    not_vault.write_text('{"hello": 1}')
    with pytest.raises(ConfigError, match="not a syncline vault"):
        Vault(not_vault, key_file=tmp_path / "k.key").get("a")
    assert not_vault.read_text() == '{"hello": 1}'


def test_update_and_delete(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "v.json", key_file=tmp_path / "k.key")
    with vault.update("t") as value:
        assert value == {}
        value["n"] = 1
    with pytest.raises(RuntimeError), vault.update("t") as value:
        value["n"] = 99
        raise RuntimeError("aborted")
    assert vault.get("t") == {"n": 1}
    assert vault.delete("t") is True
    assert vault.delete("t") is False
    assert vault.get("t") is None


def test_concurrent_updates_lose_nothing(tmp_path: Path) -> None:
    key_file = tmp_path / "k.key"
    vaults = [Vault(tmp_path / "v.json", key_file=key_file) for _ in range(4)]

    def bump(vault: Vault) -> None:
        for _ in range(25):
            with vault.update("counter") as value:
                value["n"] = value.get("n", 0) + 1

    threads = [threading.Thread(target=bump, args=(vault,)) for vault in vaults]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert vaults[0].get("counter") == {"n": 100}


def test_credentials_referenced_from_settings(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``syncline secret set`` keeps a credential encrypted; a setting written
    ``vault:NAME`` uses it (here the CRM database's URL), the API masks nothing it needs
    to show, and the value counts among the secrets kept out of logs and the state."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home-config"))
    monkeypatch.setenv(VAULT_ENVIRONMENT_VARIABLE, str(tmp_path / "creds.vault"))
    pair = make_sql(tmp_path)
    url = f"sqlite:///{pair.crm}"
    text = pair.config.read_text().replace('url = "sqlite:///crm.db"', 'url = "vault:crm-url"')
    pair.config.write_text(text)
    runner = CliRunner()
    missing = runner.invoke(app, ["sync", "crm-books", "--config", str(pair.config)])
    assert missing.exit_code == 2
    assert "credential 'crm-url' is not in the credentials vault" in missing.output
    assert "syncline secret set crm-url" in missing.output
    stored = runner.invoke(app, ["secret", "set", "crm-url", "--stdin"], input=url + "\n")
    assert stored.exit_code == 0, stored.output
    assert 'use it as "vault:crm-url"' in stored.output and url not in stored.output
    assert runner.invoke(app, ["secret", "list"]).output.split() == ["crm-url"]
    raw = (tmp_path / "creds.vault").read_bytes()
    assert url.encode() not in raw and str(pair.crm).encode() not in raw
    key_file = tmp_path / "home-config" / "syncline" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert resolve_secret("vault:crm-url") == url
    synced = runner.invoke(app, ["sync", "crm-books", "--config", str(pair.config)])
    assert synced.exit_code == 0, synced.output
    assert len(pair.customers()) == 3
    config = load_config(pair.config)
    assert url in config_secrets(config)
    assert mask_settings(config.endpoints["crm"].settings)["url"] == "vault:crm-url"
    removed = runner.invoke(app, ["secret", "remove", "crm-url"])
    assert removed.exit_code == 0 and "removed credential crm-url" in removed.output
    again = runner.invoke(app, ["secret", "remove", "crm-url"])
    assert again.exit_code == 2 and "no credential 'crm-url'" in again.output
    with pytest.raises(ConfigError, match="crm-url"):
        resolve_secret("vault:crm-url", key="endpoints.crm.url")
