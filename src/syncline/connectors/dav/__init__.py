"""The ``carddav`` and ``caldav`` connectors: address books and calendars on a WebDAV
server.

- :mod:`.services`: :class:`CardDavConnector`, :class:`CalDavConnector`;
- :mod:`.connector`: :class:`DavConnector`, what they share (description, opening, the
  malformed-item rules);
- :mod:`.session`: what an opened endpoint reads and writes through
  (:class:`~.session.DavSession`: client, sites, fetching and parsing, read caches);
- :mod:`.reading`: cursors (sync-token or ctag), changes, full reads;
- :mod:`.writing`: batches with preconditions, and recovery from their receipts;
- :mod:`.client`: the WebDAV client over httpx and its errors;
- :mod:`.protocol`: the XML bodies and multistatus answers;
- :mod:`.discovery`: well-known URLs, principals, home sets, collections;
- :mod:`.items`: item text <-> canonical fields per stream;
- :mod:`.state`: what is kept on disk per collection (own writes, receipts in the shared
  format of :mod:`syncline.connectors.receipts`, snapshots);
- :mod:`.settings`: the endpoint's settings, checked.
"""

from __future__ import annotations

from syncline.connectors.dav.connector import DavConnector
from syncline.connectors.dav.services import CalDavConnector, CardDavConnector

__all__ = ["CalDavConnector", "CardDavConnector", "DavConnector"]
