"""The ``qbo`` connector (QuickBooks Online). Modules:

- :mod:`.connector`: the :class:`QboConnector` class;
- :mod:`.mapping`: streams <-> QBO entities and properties;
- :mod:`.reading`: queries and change data capture (cursors);
- :mod:`.writing`: batch writes, sparse updates, SyncToken conflicts, recovery;
- :mod:`.http`: API calls, client-side limits, 429 / Retry-After, retries;
- :mod:`.auth`: OAuth 2.0 token refresh with rotation, tokens in the vault;
- :mod:`.state`: receipts and own-write records;
- :mod:`.settings`: the endpoint's settings.

Example (against the local sandbox, ``syncline sandbox qbo``, which prints these values)::

    [endpoints.books]
    connector = "qbo"
    base_url = "http://127.0.0.1:8766"
    token_url = "http://127.0.0.1:8766/oauth2/v1/tokens/bearer"
    realm_id = "9341453100000001"
    client_id = "syncline-sandbox-client"
    client_secret = "env:QBO_CLIENT_SECRET"
    refresh_token = "env:QBO_REFRESH_TOKEN"   # read once; rotated tokens live in the vault
    streams = ["contact", "item", "tax_rate", "invoice", "payment"]
"""

from __future__ import annotations

from syncline.connectors.qbo.connector import QboConnector

__all__ = ["QboConnector"]
