"""The ``xero`` connector (see :mod:`syncline.connectors.xero.connector`)."""

from __future__ import annotations

from syncline.connectors.xero.connector import CAPABILITIES, XeroConnector

__all__ = ["CAPABILITIES", "XeroConnector"]
