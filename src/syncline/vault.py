"""Secrets kept encrypted at rest: OAuth tokens, API keys, passwords.

Terms:

vault
    One JSON file mapping a secret's *name* (e.g. ``"books/oauth"``) to its value encrypted
    with Fernet (AES-128-CBC + HMAC-SHA256, from the ``cryptography`` package). The file holds
    only ciphertext: a token stored in it cannot be found by reading the raw bytes. It is
    written atomically (temporary file + ``os.replace``) with permissions ``0600``, and it is
    re-read on every access, so a value another process stored (a rotated refresh token) is
    seen at once.
secret key
    The Fernet key the vault encrypts with. Taken from the environment variable
    ``SYNCLINE_SECRET_KEY`` when it is set (several keys separated by commas rotate keys: the
    first encrypts, all decrypt); otherwise from a key file, created on first use with
    permissions ``0600`` (default ``$XDG_CONFIG_HOME/syncline/secret.key``, i.e.
    ``~/.config/syncline/secret.key``), kept apart from the vault so that a copy of a project
    folder does not carry the key with it.
value
    Any JSON-serialisable mapping (``dict[str, Any]``).

Typical use (a connector keeping its latest OAuth2 token)::

    vault = Vault(base_dir / ".syncline" / "vault.json")
    vault.put("books/oauth", {"refresh_token": "...", "access_token": "..."})
    token = vault.get("books/oauth")   # None when never stored

    with vault.update("books/oauth") as token:   # read-modify-write under the lock
        token["refresh_token"] = new_refresh_token

credential
    A secret a connector setting refers to as ``vault:NAME`` instead of holding it (e.g.
    ``password = "vault:crm-dav"``), stored with ``syncline secret set NAME`` in the
    *credentials vault*: ``$SYNCLINE_VAULT``, else ``credentials.vault`` next to the default
    key file (``~/.config/syncline/credentials.vault``). It is read when the setting is used
    (:func:`resolve_credential`), so it is never written in the configuration in clear.

Errors: a key that is not a Fernet key, a vault that is not a vault file, or a value that the
current key cannot decrypt raise :class:`~syncline.errors.ConfigError` naming the file or
variable; an unreadable or unwritable file raises ``ConfigError`` too (nothing is changed).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from syncline.errors import ConfigError

__all__ = [
    "CREDENTIAL_PREFIX",
    "KEY_ENVIRONMENT_VARIABLE",
    "VAULT_ENVIRONMENT_VARIABLE",
    "Vault",
    "credential_names",
    "credentials_vault",
    "default_key_file",
    "default_vault_path",
    "load_cipher",
    "remove_credential",
    "resolve_credential",
    "store_credential",
]

KEY_ENVIRONMENT_VARIABLE = "SYNCLINE_SECRET_KEY"
"""The environment variable holding the secret key(s), comma-separated, newest first."""

VAULT_ENVIRONMENT_VARIABLE = "SYNCLINE_VAULT"
"""The environment variable naming the credentials vault's file."""

CREDENTIAL_PREFIX = "vault:"
"""How a setting refers to a credential kept in the credentials vault."""

_FORMAT = "syncline-vault/1"
_CREDENTIAL = "credential/"


def default_key_file() -> Path:
    """Where the key file lives when no path is given: ``$XDG_CONFIG_HOME/syncline/secret.key``
    (``~/.config/syncline/secret.key`` when ``XDG_CONFIG_HOME`` is unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "syncline" / "secret.key"


def _fernet(text: str, source: str) -> Fernet:
    try:
        return Fernet(text.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ConfigError("is not a Fernet key (32 url-safe base64-encoded bytes; make one "
                          "with `python -c 'from cryptography.fernet import Fernet; "
                          "print(Fernet.generate_key().decode())'`)", source=source) from None


def _create_key_file(path: Path) -> None:
    """Write a new random key to ``path`` with permissions 0600, never replacing one that
    another process created meanwhile."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(Fernet.generate_key() + b"\n")


def load_cipher(key_file: Path | None = None) -> MultiFernet:
    """The cipher made of the secret key(s) (see the module docstring).

    ``SYNCLINE_SECRET_KEY`` wins over the key file. Without it the key file (``key_file`` or
    :func:`default_key_file`) is read, and created with a new random key on first use.

    Raises:
        ConfigError: the variable or the file does not hold Fernet keys, or the key file
            cannot be created or read.
    """
    configured = os.environ.get(KEY_ENVIRONMENT_VARIABLE, "").strip()
    if configured:
        return MultiFernet([_fernet(part, f"${KEY_ENVIRONMENT_VARIABLE}")
                            for part in configured.split(",") if part.strip()])
    path = key_file if key_file is not None else default_key_file()
    try:
        if not path.exists():
            _create_key_file(path)
        lines = [line for line in path.read_text("ascii").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"the secret key file cannot be used: {error}",
                          source=str(path)) from None
    if not lines:
        raise ConfigError("the secret key file is empty", source=str(path))
    return MultiFernet([_fernet(line, str(path)) for line in lines])


class Vault:
    """Named secrets in one encrypted file (see the module docstring).

    Safe to share between threads, and between processes on one machine (an advisory
    ``flock`` on ``<path>.lock`` serialises writers).
    """

    def __init__(self, path: Path, *, key_file: Path | None = None,
                 cipher: MultiFernet | None = None) -> None:
        """Open the vault at ``path`` (created on the first :meth:`put`).

        ``cipher`` overrides the key lookup (tests); otherwise :func:`load_cipher` is called
        with ``key_file`` on first use.
        """
        self.path = path
        self.key_file = key_file
        self._cipher = cipher
        self._lock = threading.RLock()

    # -- internals --------------------------------------------------------------------------
    @property
    def cipher(self) -> MultiFernet:
        if self._cipher is None:
            self._cipher = load_cipher(self.key_file)
        return self._cipher

    def _load(self) -> dict[str, str]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise ConfigError(f"the vault cannot be read: {error}", source=str(self.path)) \
                from None
        try:
            document = json.loads(raw)
        except ValueError:
            raise ConfigError("is not a syncline vault (not JSON)", source=str(self.path)) \
                from None
        if not isinstance(document, dict) or document.get("format") != _FORMAT \
                or not isinstance(document.get("secrets"), dict):
            raise ConfigError(f"is not a syncline vault (format {_FORMAT} expected)",
                              source=str(self.path))
        return {str(name): str(value) for name, value in document["secrets"].items()}

    def _save(self, secrets: dict[str, str]) -> None:
        data = json.dumps({"format": _FORMAT, "secrets": secrets}, indent=1,
                          sort_keys=True).encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(prefix=".vault-", dir=self.path.parent)
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    os.fchmod(handle.fileno(), 0o600)
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as error:
            raise ConfigError(f"the vault cannot be written: {error}", source=str(self.path)) \
                from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the thread lock and the inter-process lock file."""
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                handle = open(f"{self.path}.lock", "a+b")  # noqa: SIM115 - closed below
            except OSError as error:
                raise ConfigError(f"the vault cannot be locked: {error}",
                                  source=str(self.path)) from None
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
                handle.close()

    def _decrypt(self, name: str, token: str) -> dict[str, Any]:
        try:
            value = json.loads(self.cipher.decrypt(token.encode("ascii")))
        except (InvalidToken, UnicodeEncodeError):
            raise ConfigError(f"secret '{name}' cannot be decrypted with the current key "
                              f"(was ${KEY_ENVIRONMENT_VARIABLE} or the key file changed?)",
                              source=str(self.path)) from None
        if not isinstance(value, dict):
            raise ConfigError(f"secret '{name}' is not a mapping", source=str(self.path))
        return value

    # -- public API -------------------------------------------------------------------------
    def get(self, name: str) -> dict[str, Any] | None:
        """The value stored as ``name``, ``None`` when there is none.

        Raises:
            ConfigError: the vault cannot be read or the value cannot be decrypted.
        """
        with self._lock:
            token = self._load().get(name)
        return None if token is None else self._decrypt(name, token)

    def put(self, name: str, value: dict[str, Any]) -> None:
        """Store ``value`` as ``name`` (replacing what was there), encrypted.

        Raises:
            ConfigError: the vault cannot be read or written; ``TypeError`` when ``value``
                is not JSON-serialisable.
        """
        token = self.cipher.encrypt(json.dumps(value, sort_keys=True).encode()).decode("ascii")
        with self._locked():
            secrets = self._load()
            secrets[name] = token
            self._save(secrets)

    @contextlib.contextmanager
    def update(self, name: str) -> Iterator[dict[str, Any]]:
        """Read-modify-write ``name`` under the vault's lock: yields the current value (an
        empty dict when there is none) and stores it when the block ends without error.

        Raises:
            ConfigError: as :meth:`get` and :meth:`put`.
        """
        with self._locked():
            secrets = self._load()
            token = secrets.get(name)
            value = {} if token is None else self._decrypt(name, token)
            yield value
            secrets[name] = self.cipher.encrypt(
                json.dumps(value, sort_keys=True).encode()).decode("ascii")
            self._save(secrets)

    def delete(self, name: str) -> bool:
        """Remove ``name``; whether it was there.

        Raises:
            ConfigError: the vault cannot be read or written.
        """
        with self._locked():
            secrets = self._load()
            if secrets.pop(name, None) is None:
                return False
            self._save(secrets)
            return True

    def names(self) -> list[str]:
        """The names of the stored secrets, sorted.

        Raises:
            ConfigError: the vault cannot be read.
        """
        with self._lock:
            return sorted(self._load())


# -- credentials ------------------------------------------------------------------------------
def default_vault_path() -> Path:
    """The credentials vault's file (see the module docstring)."""
    configured = os.environ.get(VAULT_ENVIRONMENT_VARIABLE, "").strip()
    if configured:
        return Path(configured).expanduser()
    return default_key_file().parent / "credentials.vault"


def credentials_vault() -> Vault:
    """The credentials vault, with the secret key of :func:`load_cipher`."""
    return Vault(default_vault_path())


def _credential_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or any(char.isspace() for char in cleaned):
        raise ConfigError(f"{name!r} is not a credential name (no spaces, not empty)")
    return _CREDENTIAL + cleaned


def store_credential(name: str, value: str, vault: Vault | None = None) -> None:
    """Keep ``value`` encrypted as credential ``name`` (replacing it).

    Raises:
        ConfigError: a bad name, an empty value, or a vault that cannot be written.
    """
    if not value:
        raise ConfigError(f"credential '{name}' is empty")
    (vault or credentials_vault()).put(_credential_name(name), {"value": value})


def remove_credential(name: str, vault: Vault | None = None) -> bool:
    """Forget credential ``name``; whether it was there.

    Raises:
        ConfigError: the vault cannot be read or written.
    """
    return (vault or credentials_vault()).delete(_credential_name(name))


def credential_names(vault: Vault | None = None) -> list[str]:
    """The names of the stored credentials, sorted.

    Raises:
        ConfigError: the vault cannot be read.
    """
    return [name[len(_CREDENTIAL):] for name in (vault or credentials_vault()).names()
            if name.startswith(_CREDENTIAL)]


def resolve_credential(name: str, *, key: str = "", vault: Vault | None = None) -> str:
    """The value of credential ``name`` (a setting's ``vault:NAME``).

    Raises:
        ConfigError: no such credential (naming the setting and how to store it), or the
            vault cannot be read or decrypted.
    """
    found = (vault or credentials_vault()).get(_credential_name(name))
    value = found.get("value") if found is not None else None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"credential '{name}' is not in the credentials vault "
                          f"{default_vault_path() if vault is None else vault.path} (store it "
                          f"with 'syncline secret set {name}')", key=key or None)
    return value
