"""What the Xero connector's reading and writing modules work over.

Terms:

Xero context
    :class:`XeroContext`, built once by :meth:`XeroConnector.open()
    <syncline.connectors.xero.connector.XeroConnector.open>`: the endpoint's name and
    settings, the API client of its organisation, its state file, the item codes it holds
    (read when first needed), and a callable giving the run context of the moment (the
    engine sets a run's own on the connector, so it is read when needed, never kept).
    :mod:`.reading` and :mod:`.writing` are module functions over it; they never reach
    into the connector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from syncline.connectors.xero.client import XeroClient
from syncline.connectors.xero.locks import ItemCodes
from syncline.connectors.xero.settings import XeroSettings
from syncline.connectors.xero.state import XeroState
from syncline.run_context import RunContext

__all__ = ["XeroContext"]


@dataclass(frozen=True, slots=True)
class XeroContext:
    """One open Xero endpoint (see the module docstring)."""

    endpoint: str
    settings: XeroSettings
    client: XeroClient
    state: XeroState
    run_context: Callable[[], RunContext]
    items: ItemCodes = field(default_factory=ItemCodes)
    """The organisation's item codes, read when first needed (see :mod:`.locks`)."""
