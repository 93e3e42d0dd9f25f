"""vCard 3.0 / 4.0 items <-> canonical ``contact`` and ``organisation`` fields.

The mapping (the first property of a kind is the one mapped; others are kept as they are):

=================  ==========================================================================
vCard              canonical
=================  ==========================================================================
FN                 name
N                  last_name (family), first_name (given); other parts kept
EMAIL              email (the first)
TEL                phone (the first that is not TYPE=cell, fax or pager; work/voice first),
                   mobile (the first TYPE=cell); a ``tel:`` URI value loses its scheme
ORG                a person's ``organisation`` (the organisation's name, as text); the
                   ``name`` of an organisation card; organisation units are kept
TITLE              title
ADR                street, city, region, postcode, country (the first ADR); PO box and
                   extended address kept
NOTE               notes
CATEGORIES         categories (joined with ``", "``)
URL                website (organisations)
UID                the item's identity (not a canonical field: the file name derives from it)
REV                ``Record.updated_at``; set to the time of every write
=================  ==========================================================================

An *organisation card* is one with ``KIND:org`` (vCard 4.0) or ``X-ABShowAs:COMPANY`` (the
Apple vCard 3.0 convention); every other card is a person. New cards are written as vCard 3.0
(the version every contacts application reads); an organisation card also gets ``KIND:org``
and ``X-ABShowAs:COMPANY``.

Updating starts from the card's own text and changes only the lines of mapped properties
(see :mod:`syncline.formats.contentline`), so nothing syncline does not map is lost.

This module is the public face; the work is split by concern: :mod:`.vcard_read` (parsing
and the canonical fields, with a one-pass reader for folders of many cards) and
:mod:`.vcard_write` (updates and new cards).
"""

from __future__ import annotations

from syncline.formats.vcard_read import (
    CONTACT_FIELDS,
    ORGANISATION_FIELDS,
    VCard,
    card_fields,
    is_organisation,
    parse_vcard,
    read_card,
    revision,
    uid_of,
)
from syncline.formats.vcard_write import new_vcard, new_vcard_text, update_vcard

__all__ = [
    "CONTACT_FIELDS",
    "ORGANISATION_FIELDS",
    "VCard",
    "card_fields",
    "is_organisation",
    "new_vcard",
    "new_vcard_text",
    "parse_vcard",
    "read_card",
    "revision",
    "uid_of",
    "update_vcard",
]
