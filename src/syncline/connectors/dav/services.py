"""The two DAV connectors: :class:`CardDavConnector` (address books) and
:class:`CalDavConnector` (calendars); what they share is
:class:`~syncline.connectors.dav.connector.DavConnector`."""

from __future__ import annotations

from typing import ClassVar

from syncline.connectors.dav.connector import DavConnector
from syncline.connectors.dav.items import CalendarCodec, CardCodec
from syncline.connectors.dav.protocol import CALDAV, CARDDAV, clark

__all__ = ["CalDavConnector", "CardDavConnector"]


class CardDavConnector(DavConnector):
    """Contacts and organisations in a CardDAV address book."""

    type_name: ClassVar[str] = "carddav"
    description: ClassVar[str] = "CardDAV address book (contacts, organisations)"
    service = "carddav"
    multiget_kind = "addressbook"
    stream_names = ("contact", "organisation")
    default_streams = ("contact",)
    codec_class = CardCodec
    data_property = clark(CARDDAV, "address-data")


class CalDavConnector(DavConnector):
    """Events and tasks in a CalDAV calendar."""

    type_name: ClassVar[str] = "caldav"
    description: ClassVar[str] = "CalDAV calendar (events, tasks)"
    service = "caldav"
    multiget_kind = "calendar"
    stream_names = ("event", "task")
    default_streams = ("event", "task")
    codec_class = CalendarCodec
    data_property = clark(CALDAV, "calendar-data")

    def component(self, stream: str) -> str | None:
        return CalendarCodec.components[stream]
