"""Realistic vCards for the DAV benchmark (``python -m bench.dav``), and the edits between runs.

Every card has UID, FN, N, ORG, TITLE, two EMAIL, two TEL, ADR, NOTE and REV, as an address
book exported from a phone or a groupware server would. The cards are the same on every run
(numbered, no randomness), and each lives in ``<UID>.vcf``: the file name vdirsyncer's
filesystem storage and syncline's ``vdir`` connector both use.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["card_text", "change_cards", "delete_cards", "uid", "unfolded", "write_cards"]

_FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret",
          "Niklaus", "Radia", "Tim", "Hedy", "John", "Katherine", "Linus", "Sophie", "Tomás"]
_LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson",
         "Hamilton", "Wirth", "Perlman", "Berners-Lee", "Lamarr", "Backus", "Johnson", "Müller"]
_ORG = ["Analytical Engines Ltd", "Harbour Logistics", "Northwind Traders", "Contoso GmbH",
        "Fabrikam, Inc.", "Tailspin Toys", "Wide World Importers", "Adventure Works"]
_TITLE = ["Account Manager", "Chief Financial Officer", "Buyer", "Head of Operations",
          "Sales Engineer", "Office Manager", "Procurement Lead"]
_CITY = [("Leeds", "West Yorkshire", "LS1 4AP", "United Kingdom"),
         ("Lyon", "Auvergne-Rhône-Alpes", "69002", "France"),
         ("Köln", "Nordrhein-Westfalen", "50667", "Germany"),
         ("Portland", "OR", "97205", "United States")]


def uid(number: int) -> str:
    """The UID (and file name) of card ``number``."""
    return f"bench-{number:06d}-5c1e-4f7a-9b1d-{number * 7919 % 10**12:012d}"


def card_text(number: int, *, revision: int = 0) -> str:
    """The vCard 3.0 text of card ``number``; ``revision`` > 0 gives an edited version (new
    title, phone, note and REV)."""
    first, last = _FIRST[number % len(_FIRST)], _LAST[number % len(_LAST)]
    org = _ORG[number % len(_ORG)].replace(",", "\\,")
    city, region, postcode, country = _CITY[number % len(_CITY)]
    title = _TITLE[(number + revision) % len(_TITLE)]
    login = f"{first.lower()}.{last.lower()}.{number}".replace("á", "a").replace("ü", "u")
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        "PRODID:-//syncline bench//EN",
        f"UID:{uid(number)}",
        f"FN:{first} {last}",
        f"N:{last};{first};;;",
        f"ORG:{org};Sales",
        f"TITLE:{title}",
        f"EMAIL;TYPE=INTERNET,WORK:{login}@example.com",
        f"EMAIL;TYPE=INTERNET,HOME:{login}@mail.example.org",
        f"TEL;TYPE=WORK,VOICE:+44 20 7946 {(number * 31 + revision) % 10000:04d}",
        f"TEL;TYPE=CELL:+44 7700 9{number % 100000:05d}",
        f"ADR;TYPE=WORK:;;{number % 200 + 1} Station Road;{city};{region};{postcode};{country}",
        f"NOTE:Met at the trade fair in {2015 + number % 10}. Prefers e-mail\\, "
        f"mornings only.\\nRevision {revision}.",
        f"REV:2024{1 + number % 12:02d}{1 + number % 28:02d}T{number % 24:02d}"
        f"{number % 60:02d}{revision % 60:02d}Z",
        "END:VCARD",
    ]
    return "\r\n".join(lines) + "\r\n"


def write_cards(folder: Path, count: int) -> None:
    """Write cards 1..``count`` into ``folder`` (created when missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(1, count + 1):
        (folder / f"{uid(number)}.vcf").write_bytes(card_text(number).encode())


def _every(count: int, share: float, offset: int) -> list[int]:
    step = max(1, round(1 / share))
    return list(range(1 + offset, count + 1, step))


def change_cards(folder: Path, count: int, share: float, *, revision: int,
                 offset: int = 0) -> int:
    """Rewrite ``share`` of the cards 1..``count`` in ``folder`` with ``revision`` (as an
    editor would: a new file renamed over the old one). Returns how many were changed."""
    changed = 0
    for number in _every(count, share, offset):
        path = folder / f"{uid(number)}.vcf"
        if not path.exists():
            continue
        temp = folder / f".{uid(number)}.tmp"
        temp.write_bytes(card_text(number, revision=revision).encode())
        os.replace(temp, path)
        changed += 1
    return changed


def delete_cards(folder: Path, count: int, share: float, *, offset: int = 0) -> int:
    """Delete ``share`` of the cards 1..``count`` from ``folder``. Returns how many."""
    deleted = 0
    for number in _every(count, share, offset):
        path = folder / f"{uid(number)}.vcf"
        if path.exists():
            path.unlink()
            deleted += 1
    return deleted


def unfolded(data: bytes) -> bytes:
    """A card's bytes with folded lines joined again (CRLF or LF line ends)."""
    return data.replace(b"\r\n ", b"").replace(b"\n ", b"")
