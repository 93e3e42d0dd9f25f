"""Connector registry: connector type name -> class.

Built-in connectors are registered here; third-party packages add theirs through the
entry-point group ``syncline.connectors`` (name = connector type, value = the class).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from syncline.errors import ConfigError

if TYPE_CHECKING:  # the interface loads with the first connector (start-up time)
    from syncline.connectors.base import Connector

__all__ = ["available_connectors", "connector_class"]

_BUILT_IN: dict[str, str] = {
    "caldav": "syncline.connectors.dav:CalDavConnector",
    "carddav": "syncline.connectors.dav:CardDavConnector",
    "memory": "syncline.connectors.memory:MemoryConnector",
    "qbo": "syncline.connectors.qbo:QboConnector",
    "sql": "syncline.connectors.sql:SqlConnector",
    "vdir": "syncline.connectors.vdir:VdirConnector",
    "xero": "syncline.connectors.xero:XeroConnector",
}


def _load(type_name: str, target: str, key: str | None) -> type[Connector]:
    """Import a connector class.

    Raises:
        ConfigError: the module cannot be imported, lacks the class, or the class is not a
            Connector.
    """
    from syncline.connectors.base import Connector

    module_name, _, attribute = target.partition(":")
    try:
        loaded = getattr(import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"connector '{type_name}' cannot be loaded: {error}", key=key) \
            from None
    if not (isinstance(loaded, type) and issubclass(loaded, Connector)):
        raise ConfigError(f"connector '{type_name}' ({target}) is not a syncline Connector "
                          f"class", key=key)
    return loaded


def available_connectors() -> dict[str, str]:
    """Connector type name -> import target, built-in ones and those of installed plugins."""
    from importlib.metadata import entry_points  # slow to import: only when plugins are listed

    found = dict(_BUILT_IN)
    for entry in entry_points(group="syncline.connectors"):
        found.setdefault(entry.name, entry.value)
    return found


def connector_class(type_name: str, *, key: str | None = None) -> type[Connector]:
    """The connector class registered as ``type_name``.

    Raises:
        ConfigError: no connector of that name is known (with a suggestion when one is close).
    """
    target = _BUILT_IN.get(type_name)  # built-in names win: no need to scan the plugins
    if target is not None:
        return _load(type_name, target, key)
    known = available_connectors()
    target = known.get(type_name)
    if target is None:
        from difflib import get_close_matches

        close = get_close_matches(type_name, list(known), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(
            f"unknown connector '{type_name}'{hint}; known: {', '.join(sorted(known))}", key=key
        )
    return _load(type_name, target, key)
