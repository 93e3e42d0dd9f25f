"""Sample business data for the demo: organisations, contacts, products and invoices.

Everything comes from a seeded :class:`random.Random`, so every demo run builds the same
data. Values are canonical-looking: names, e-mail addresses at the organisation's domain,
phone numbers in the country's format, addresses, prices as :class:`~decimal.Decimal`
with two places, invoice dates in the past year.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

__all__ = [
    "Contact",
    "Invoice",
    "InvoiceLine",
    "Organisation",
    "Product",
    "SampleData",
    "generate_pair",
    "money",
]

_FIRST = ("Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Freya", "Arthur", "Sophie",
          "Leo", "Aoife", "Cian", "Niamh", "Sean", "Emma", "Daan", "Sanne", "Lars", "Fleur",
          "Jonas", "Lena", "Felix", "Marie", "Paul", "Chloé", "Hugo", "Léa", "Louis", "Priya",
          "Rahul", "Mei", "Kenji", "Fatima", "Omar", "Zofia", "Mateusz", "Elena", "Marco",
          "Ingrid", "Henrik")
_LAST = ("Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Walsh", "Byrne", "Murphy",
         "O'Brien", "de Vries", "Jansen", "Bakker", "Visser", "Müller", "Schmidt", "Fischer",
         "Weber", "Martin", "Bernard", "Dubois", "Laurent", "Moreau", "Patel", "Shah", "Chen",
         "Tanaka", "Haddad", "Kowalski", "Nowak", "Rossi", "Bianchi", "Larsen", "Nielsen",
         "Hughes", "Clarke", "Fitzgerald", "Kelly", "Meyer", "Wagner")
_COMPANY_FIRST = ("Northwind", "Bluebell", "Harbour", "Greenfield", "Silverline", "Oakridge",
                  "Brightwater", "Kestrel", "Granite", "Larkspur", "Meridian", "Copperleaf",
                  "Riverside", "Highmoor", "Fjord", "Beacon", "Thistle", "Alder", "Lindqvist",
                  "Vantage")
_COMPANY_SECOND = ("Trading", "Logistics", "Foods", "Engineering", "Design", "Consulting",
                   "Systems", "Textiles", "Energy", "Health", "Outdoor", "Print")
_LEGAL = {"GB": "Ltd", "IE": "Ltd", "NL": "B.V.", "DE": "GmbH", "FR": "SARL"}
_CITIES = {
    "GB": (("London", "EC1A {0}BB"), ("Manchester", "M{0} 4AB"), ("Bristol", "BS{0} 5TR"),
           ("Leeds", "LS{0} 3HF")),
    "IE": (("Dublin", "D0{0} X2P4"), ("Cork", "T12 K{0}R7"), ("Galway", "H91 E{0}Y8")),
    "NL": (("Amsterdam", "10{0}5 AB"), ("Utrecht", "35{0}2 CD"), ("Rotterdam", "30{0}1 EF")),
    "DE": (("Berlin", "10{0}15"), ("Hamburg", "20{0}95"), ("München", "80{0}31")),
    "FR": (("Paris", "750{0}8"), ("Lyon", "6900{0}"), ("Nantes", "4400{0}")),
}
_STREETS = {
    "GB": ("High Street", "Station Road", "Church Lane", "Victoria Road", "Mill Lane"),
    "IE": ("Main Street", "Harbour Road", "Abbey Street", "Quay Street"),
    "NL": ("Keizersgracht", "Stationsplein", "Dorpsstraat", "Marktstraat"),
    "DE": ("Hauptstraße", "Bahnhofstraße", "Schillerstraße", "Gartenweg"),
    "FR": ("Rue de la République", "Avenue Victor Hugo", "Rue du Port", "Boulevard Voltaire"),
}
_DIAL = {"GB": "+44 20 {0} {1}", "IE": "+353 1 {0} {1}", "NL": "+31 20 {0} {1}",
         "DE": "+49 30 {0} {1}", "FR": "+33 1 {0} {1}"}
_TITLES = ("Managing Director", "Finance Manager", "Buyer", "Office Manager", "Accountant",
           "Operations Lead", "Sales Director", "Procurement Officer", "Founder", None)
_PRODUCTS = (
    ("Ergonomic office chair", "FUR", "180.00", "95.00"),
    ("Standing desk 160 cm", "FUR", "540.00", "310.00"),
    ("Monitor arm, dual", "ACC", "89.90", "41.00"),
    ("27\" 4K monitor", "HW", "329.00", "240.00"),
    ("Wireless keyboard", "ACC", "59.00", "27.50"),
    ("Laptop docking station", "HW", "189.00", "120.00"),
    ("Noise-cancelling headset", "ACC", "149.00", "82.00"),
    ("Conference speakerphone", "HW", "259.00", "160.00"),
    ("A4 copier paper, box of 5 reams", "SUP", "24.50", "14.20"),
    ("Toner cartridge, black", "SUP", "79.00", "38.00"),
    ("Whiteboard 120x90", "FUR", "119.00", "62.00"),
    ("Filing cabinet, 3 drawers", "FUR", "210.00", "118.00"),
    ("Onsite installation, per hour", "SRV", "85.00", "40.00"),
    ("Remote support, per hour", "SRV", "65.00", "30.00"),
    ("Annual maintenance plan", "SRV", "480.00", "150.00"),
    ("Network switch, 24 ports", "HW", "299.00", "205.00"),
    ("Wi-Fi access point", "HW", "179.00", "112.00"),
    ("Cat6 patch cable 2 m, pack of 10", "SUP", "19.90", "7.80"),
    ("Desk lamp, LED", "ACC", "45.00", "19.00"),
    ("Webcam, full HD", "ACC", "69.00", "33.00"),
    ("Project workshop, per day", "SRV", "950.00", "400.00"),
    ("Coffee beans, 1 kg", "SUP", "21.00", "11.50"),
    ("Water filter cartridge", "SUP", "15.50", "6.90"),
    ("Laptop 14\", 16 GB", "HW", "1149.00", "890.00"),
    ("Docking cable, USB-C", "ACC", "24.00", "9.50"),
    ("Security audit, fixed price", "SRV", "1800.00", "700.00"),
    ("Acoustic panel", "FUR", "74.00", "35.00"),
    ("Locker, 4 doors", "FUR", "265.00", "150.00"),
    ("Label printer", "HW", "119.00", "70.00"),
    ("Training session, per person", "SRV", "120.00", "45.00"),
)
_OTHER_PRODUCTS = (
    ("Bookkeeping service, per month", "250.00", "0.00"),
    ("Payroll run, per employee", "12.00", "0.00"),
    ("Year-end accounts", "1450.00", "0.00"),
    ("VAT return filing", "180.00", "0.00"),
)
_CENT = Decimal("0.01")
_VAT = Decimal("0.20")


def money(value: Decimal | str) -> Decimal:
    """``value`` rounded half-up to cents."""
    return Decimal(value).quantize(_CENT, rounding=ROUND_HALF_UP)


@dataclass
class Organisation:
    """A customer company. ``number`` is its registration number (the natural key)."""

    number: str
    name: str
    email: str
    phone: str
    website: str
    tax_number: str
    street: str
    city: str
    postcode: str
    country: str
    domain: str


@dataclass
class Contact:
    """A person at an organisation (``organisation`` indexes :attr:`SampleData.organisations`)."""

    first_name: str
    last_name: str
    email: str
    phone: str
    mobile: str
    title: str | None
    organisation: int
    city: str
    country: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass
class Product:
    """A product or service; ``code`` (the SKU) is the natural key."""

    code: str
    name: str
    unit_price: Decimal
    cost_price: Decimal
    active: bool = True


@dataclass
class InvoiceLine:
    """``product`` indexes :attr:`SampleData.products`."""

    product: int
    description: str
    quantity: Decimal
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        return money(self.quantity * self.unit_price)


@dataclass
class Invoice:
    """A sales invoice to a contact (``contact`` indexes :attr:`SampleData.contacts`)."""

    number: str
    contact: int
    issued: date
    due: date
    currency: str
    status: str
    lines: list[InvoiceLine] = field(default_factory=list)

    @property
    def subtotal(self) -> Decimal:
        return money(sum((line.amount for line in self.lines), Decimal(0)))

    @property
    def tax(self) -> Decimal:
        return money(self.subtotal * _VAT)

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.tax


@dataclass
class SampleData:
    organisations: list[Organisation]
    contacts: list[Contact]
    products: list[Product]
    invoices: list[Invoice]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower().replace("ü", "u").replace("é", "e"))


def _phone(rng: random.Random, country: str) -> str:
    return _DIAL[country].format(rng.randint(1000, 9999), rng.randint(1000, 9999))


def _mobile(rng: random.Random, country: str) -> str:
    prefix = {"GB": "+44 7", "IE": "+353 8", "NL": "+31 6", "DE": "+49 15", "FR": "+33 6"}
    return f"{prefix[country]}{rng.randint(10, 99)} {rng.randint(100000, 999999)}"


def _organisations(rng: random.Random, count: int) -> list[Organisation]:
    out: list[Organisation] = []
    names: set[str] = set()
    numbers: set[str] = set()
    while len(out) < count:
        country = rng.choice(tuple(_LEGAL))
        base = f"{rng.choice(_COMPANY_FIRST)} {rng.choice(_COMPANY_SECOND)}"
        number = f"{country}{rng.randint(10_000_000, 99_999_999)}"
        if base in names or number in numbers:
            continue
        names.add(base)
        numbers.add(number)
        city, postcode = rng.choice(_CITIES[country])
        domain = f"{_slug(base)}.{'co.uk' if country == 'GB' else country.lower()}"
        out.append(Organisation(
            number=number, name=f"{base} {_LEGAL[country]}", email=f"info@{domain}",
            phone=_phone(rng, country), website=f"https://www.{domain}",
            tax_number=f"{country}{rng.randint(100_000_000, 999_999_999)}",
            street=f"{rng.randint(1, 180)} {rng.choice(_STREETS[country])}", city=city,
            postcode=postcode.format(rng.randint(1, 9)), country=country, domain=domain))
    return out


def _contacts(rng: random.Random, organisations: list[Organisation], count: int,
              emails: set[str]) -> list[Contact]:
    """``count`` people; the first ones one per organisation, the rest at random ones.
    ``emails`` holds the addresses already taken (and is updated)."""
    out: list[Contact] = []
    while len(out) < count:
        index = len(out) if len(out) < len(organisations) \
            else rng.randrange(len(organisations))
        organisation = organisations[index]
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        email = f"{_slug(first)}.{_slug(last)}@{organisation.domain}"
        if email in emails:
            continue
        emails.add(email)
        out.append(Contact(first, last, email, _phone(rng, organisation.country),
                           _mobile(rng, organisation.country), rng.choice(_TITLES), index,
                           organisation.city, organisation.country))
    return out


def _products() -> list[Product]:
    counters: dict[str, int] = {}
    out: list[Product] = []
    for name, group, price, cost in _PRODUCTS:
        counters[group] = counters.get(group, 0) + 1
        out.append(Product(f"{group}-{100 + counters[group] * 7}", name, money(price),
                           money(cost)))
    return out


def _invoices(rng: random.Random, contacts: list[Contact], products: list[Product],
              count: int, today: date, prefix: str) -> list[Invoice]:
    out: list[Invoice] = []
    start = today - timedelta(days=360)
    for number in range(count):
        issued = start + timedelta(days=number * 360 // count + rng.randint(0, 3))
        due = issued + timedelta(days=30)
        status = "paid" if due < today - timedelta(days=20) else rng.choice(
            ("sent", "sent", "draft", "paid"))
        buyer = rng.randrange(len(contacts))
        currency = "GBP" if contacts[buyer].country == "GB" else "EUR"
        invoice = Invoice(f"{prefix}-{issued.year}-{1001 + number}", buyer, issued, due, currency,
                          status)
        for _ in range(rng.randint(1, 5)):
            index = rng.randrange(len(products))
            product = products[index]
            quantity = Decimal(rng.choice((1, 1, 2, 3, 5, 10, 12)))
            invoice.lines.append(InvoiceLine(index, product.name, quantity, product.unit_price))
        out.append(invoice)
    return out


def generate_pair(*, organisations: int = 40, contacts: int = 160, invoices: int = 80,
                  other_organisations: int = 4, other_contacts: int = 8,
                  other_invoices: int = 6, seed: int = 2024,
                  today: date | None = None) -> tuple[SampleData, SampleData]:
    """Two sets of sample data with no natural key in common: the first (of the given
    sizes, with the 30 catalogue products) and a smaller second one (``other_*`` sizes, four
    products of its own). Indexes in each set point into that set's own lists."""
    rng = random.Random(seed)
    today = today or date.today()
    everyone = _organisations(rng, organisations + other_organisations)
    emails: set[str] = set()
    first_orgs, second_orgs = everyone[:organisations], everyone[organisations:]
    first_people = _contacts(rng, first_orgs, contacts, emails)
    second_people = _contacts(rng, second_orgs, other_contacts, emails)
    products = _products()
    second_products = [Product(f"BK-{901 + number}", name, money(price), money(cost))
                       for number, (name, price, cost) in enumerate(_OTHER_PRODUCTS)]
    first = SampleData(first_orgs, first_people, products,
                       _invoices(rng, first_people, products, invoices, today, "INV"))
    second = SampleData(second_orgs, second_people, second_products,
                        _invoices(rng, second_people, second_products, other_invoices, today,
                                  "BK"))
    return first, second
