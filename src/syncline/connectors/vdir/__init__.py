"""The ``vdir`` connector: a folder of ``.vcf`` / ``.ics`` files, one item per file.

- :mod:`.connector`: :class:`VdirConnector` (description, reading, the malformed-item rules);
- :mod:`.folder`: the folder context (:class:`~.folder.VdirFolder`) the modules below work
  on: listing, loading and parsing files, the malformed ones noted;
- :mod:`.changes`: the incremental read (what changed since a snapshot);
- :mod:`.writing`: batches written atomically, and recovery from their receipts;
- :mod:`.items`: file text <-> canonical fields per stream (vCard, iCalendar codecs);
- :mod:`.state`: listings, snapshots (the cursors' referents) and batch receipts (in the
  shared format of :mod:`syncline.connectors.receipts`);
- :mod:`.settings`: the endpoint's settings, checked.
"""

from __future__ import annotations

from syncline.connectors.vdir.connector import VdirConnector

__all__ = ["VdirConnector"]
