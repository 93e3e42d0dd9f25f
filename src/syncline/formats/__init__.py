"""Item formats shared by the contacts and calendar connectors (vdir, CardDAV, CalDAV).

- :mod:`.vcard`: vCard 3.0 / 4.0 <-> canonical ``contact`` and ``organisation`` fields
  (reading in :mod:`.vcard_read`, writing in :mod:`.vcard_write`);
- :mod:`.icalendar`: iCalendar VEVENT / VTODO <-> canonical ``event`` and ``task`` fields;
- :mod:`.contentline`: the lossless content-line reader and writer under :mod:`.vcard`.

Every module reads an item from its text, maps it to canonical fields, and writes canonical
fields back into the item's own text, changing only the properties it maps. A malformed item
raises :class:`~syncline.errors.MalformedRecord` naming the item and the problem.
"""

from __future__ import annotations

__all__: list[str] = []
