"""Secret references in settings, resolved to their values.

Terms:

secret reference
    A setting's text written ``env:NAME`` (the value of environment variable ``NAME``) or
    ``vault:NAME`` (the credential stored encrypted as ``NAME`` in the credentials vault,
    ``syncline secret set NAME``; see :mod:`syncline.vault`). Any other text is the value
    itself.

This module sits below both the configuration (:mod:`syncline.config`) and the connectors,
notifications and services that use a secret: it imports only :mod:`syncline.errors`, and
:mod:`syncline.vault` (and with it ``cryptography``) only when a ``vault:`` reference is
resolved.
"""

from __future__ import annotations

import os

from syncline.errors import ConfigError

__all__ = ["resolve_secret"]


def resolve_secret(value: str, *, key: str = "") -> str:
    """Resolve ``env:NAME`` to that environment variable's value, and ``vault:NAME`` to the
    credential stored encrypted as NAME (``syncline secret set NAME``, see
    :mod:`syncline.vault`); other text is returned as is. ``key`` names the setting in
    error messages (``endpoints.crm.url``).

    Raises:
        ConfigError: the variable is not set, or the credential is not stored.
    """
    if value.startswith("vault:"):
        from syncline.vault import resolve_credential  # cryptography: only when needed

        return resolve_credential(value[len("vault:"):], key=key)
    if value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise ConfigError(f"environment variable {name} is not set", key=key or None)
        return os.environ[name]
    return value
