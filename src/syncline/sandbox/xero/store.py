"""What the Xero sandbox holds: organisations (tenants), their records, idempotency
receipts and the request log. Everything is in memory.

Terms:

tenant
    One Xero organisation, named by its ``xero-tenant-id`` (a UUID). Each holds its own
    collections; a connection (OAuth grant) may reach several.
collection
    The records of one kind in a tenant, by the API's plural name (``Invoices``) and the
    record's ID. Records are stored in the API's JSON form; ``UpdatedDateUTC`` is kept as a
    :class:`~datetime.datetime` in the ``_updated`` entry (internal entries start with ``_``
    and never leave the sandbox).
request log
    One :class:`LoggedRequest` per API call: when it arrived and finished, tenant, method,
    path, status, the ``Retry-After`` a 429 asked for, the ``If-Modified-Since`` a read
    carried and how many elements a write held. Tests and the benchmark read it
    through ``GET /sandbox/log`` to check that clients waited as asked.
"""

from __future__ import annotations

import copy
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from syncline.sandbox.xero.values import ms_timestamp

__all__ = [
    "COLLECTIONS",
    "IdempotencyReceipt",
    "LoggedRequest",
    "SandboxStore",
    "Tenant",
    "organisation",
    "public",
]

COLLECTIONS = ("Contacts", "Invoices", "CreditNotes", "Payments", "Accounts", "TaxRates",
               "Items", "TrackingCategories")


def public(record: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``record`` without internal entries, with ``UpdatedDateUTC`` set from
    ``_updated`` and decimals as JSON numbers."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items() if not key.startswith("_")}
        if isinstance(value, list):
            return [clean(item) for item in value]
        if isinstance(value, Decimal):
            return float(value)
        return value

    out: dict[str, Any] = clean(record)
    updated = record.get("_updated")
    if isinstance(updated, datetime):
        out["UpdatedDateUTC"] = ms_timestamp(updated)
    return out


def _uuid(text: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"syncline-sandbox:{text}"))


@dataclass
class Tenant:
    """One organisation and its collections (see the module docstring)."""

    tenant_id: str
    name: str
    created: datetime
    collections: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in COLLECTIONS})
    last_stamp: datetime = field(default_factory=lambda: datetime(1970, 1, 1, tzinfo=UTC))

    def stamp(self, now: datetime) -> datetime:
        """The ``UpdatedDateUTC`` for a write at ``now``: millisecond precision, never
        earlier than a stamp given before (the clock may step back)."""
        moment = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if moment < self.last_stamp:
            moment = self.last_stamp
        self.last_stamp = moment
        return moment

    def put(self, collection: str, record_id: str, record: dict[str, Any],
            now: datetime) -> dict[str, Any]:
        """Store ``record`` under ``record_id`` with a fresh ``_updated``; returns it."""
        record["_updated"] = self.stamp(now)
        self.collections[collection][record_id] = record
        return record

    def get(self, collection: str, record_id: str) -> dict[str, Any] | None:
        return self.collections[collection].get(record_id.lower())


@dataclass
class LoggedRequest:
    """One API call as the sandbox saw it (times are ``time.monotonic()`` seconds of the
    sandbox process, so intervals between entries are exact)."""

    sequence: int
    arrived: float
    finished: float
    tenant: str | None
    method: str
    path: str
    status: int
    retry_after: float | None = None
    problem: str | None = None
    idempotency_key: str | None = None
    replayed: bool = False
    elements: int = 0
    modified_since: str | None = None


@dataclass
class IdempotencyReceipt:
    """The response first given for an ``Idempotency-Key`` and what it answered."""

    fingerprint: str
    status: int
    body: Any
    stored: datetime


class SandboxStore:
    """All tenants, idempotency receipts and the request log, behind one lock.

    The lock is held for a whole write so that a batch is applied atomically.
    """

    def __init__(self, tenant_names: list[str]) -> None:
        self.lock = threading.RLock()
        self.tenants: dict[str, Tenant] = {}
        self.receipts: dict[tuple[str, str], IdempotencyReceipt] = {}
        self.in_flight: set[tuple[str, str]] = set()
        self.log: list[LoggedRequest] = []
        for name in tenant_names:
            self.add_tenant(name)

    def add_tenant(self, name: str) -> Tenant:
        """Create an organisation called ``name`` with a UK chart of accounts, VAT rates and
        two tracking categories (Region, Project); its ID is derived from its name."""
        tenant = Tenant(_uuid(f"tenant:{name}"), name, datetime.now(UTC))
        seed(tenant)
        self.tenants[tenant.tenant_id] = tenant
        return tenant

    def log_request(self, entry: LoggedRequest) -> None:
        with self.lock:
            entry.sequence = len(self.log) + 1
            self.log.append(entry)

    def log_entries(self) -> list[dict[str, Any]]:
        with self.lock:
            return [asdict(entry) for entry in self.log]

    def forget_old_receipts(self, now: datetime, keep: timedelta = timedelta(hours=24)) -> None:
        """Drop idempotency receipts older than ``keep`` (Xero keeps keys for 24 hours)."""
        with self.lock:
            for key in [key for key, receipt in self.receipts.items()
                        if now - receipt.stored > keep]:
                del self.receipts[key]

    def snapshot(self) -> dict[str, Any]:
        """Every tenant's records in API form (for ``GET /sandbox/state``)."""
        with self.lock:
            return {tenant.tenant_id: {"Name": tenant.name, **{
                name: [public(record) for record in records.values()]
                for name, records in tenant.collections.items()}}
                for tenant in self.tenants.values()}

    def copy_record(self, tenant: Tenant, collection: str, record_id: str) \
            -> dict[str, Any] | None:
        found = tenant.get(collection, record_id)
        return copy.deepcopy(found) if found is not None else None


def organisation(tenant: Tenant) -> dict[str, Any]:
    """The ``Organisation`` of ``tenant``, as ``GET /Organisation`` answers it: a UK company
    paying VAT in pounds, its year ending on 31 March."""
    return {
        "OrganisationID": tenant.tenant_id, "Name": tenant.name,
        "LegalName": f"{tenant.name} Ltd", "PaysTax": True, "Version": "UK",
        "OrganisationType": "COMPANY", "OrganisationEntityType": "COMPANY",
        "BaseCurrency": "GBP", "CountryCode": "GB", "IsDemoCompany": False,
        "OrganisationStatus": "ACTIVE", "FinancialYearEndDay": 31,
        "FinancialYearEndMonth": 3, "SalesTaxBasis": "ACCRUALS",
        "SalesTaxPeriod": "QUARTERLY1", "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Exclusive", "CreatedDateUTC": ms_timestamp(tenant.created),
        "Timezone": "GMTSTANDARDTIME", "ShortCode": f"!{tenant.tenant_id[:5]}",
        "Edition": "BUSINESS", "Class": "PREMIUM", "LineOfBusiness": "SANDBOX (not Xero)",
        "Addresses": [], "Phones": [], "ExternalLinks": [], "PaymentTerms": {}}


_ACCOUNTS = [
    ("090", "Business Bank Account", "BANK", "NONE", "ASSET", None),
    ("200", "Sales", "REVENUE", "OUTPUT2", "REVENUE", None),
    ("260", "Other Revenue", "REVENUE", "OUTPUT2", "REVENUE", None),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", "INPUT2", "EXPENSE", None),
    ("400", "Advertising", "EXPENSE", "INPUT2", "EXPENSE", None),
    ("429", "General Expenses", "EXPENSE", "INPUT2", "EXPENSE", None),
    ("610", "Accounts Receivable", "CURRENT", "NONE", "ASSET", "DEBTORS"),
    ("800", "Accounts Payable", "CURRLIAB", "NONE", "LIABILITY", "CREDITORS"),
    ("820", "VAT", "CURRLIAB", "NONE", "LIABILITY", "GST"),
    ("860", "Rounding", "CURRLIAB", "NONE", "LIABILITY", "ROUNDING"),
]
_TAX_RATES = [
    ("OUTPUT2", "20% (VAT on Income)", "OUTPUT", "20"),
    ("INPUT2", "20% (VAT on Expenses)", "INPUT", "20"),
    ("RROUTPUT", "5% (VAT on Income)", "OUTPUT", "5"),
    ("ZERORATEDOUTPUT", "Zero Rated Income", "OUTPUT", "0"),
    ("NONE", "No VAT", "NONE", "0"),
]
_TRACKING = {"Region": ["North", "South"], "Project": ["Alpha", "Beta"]}


def seed(tenant: Tenant) -> None:
    """Give a new organisation its chart of accounts, tax rates and tracking categories."""
    now = tenant.created
    for code, name, kind, tax, account_class, system in _ACCOUNTS:
        account_id = _uuid(f"{tenant.tenant_id}:account:{code}")
        record: dict[str, Any] = {
            "AccountID": account_id, "Code": code, "Name": name, "Type": kind,
            "Status": "ACTIVE", "TaxType": tax, "Class": account_class,
            "EnablePaymentsToAccount": kind == "BANK", "ShowInExpenseClaims": False,
            "HasAttachments": False, "Description": "",
        }
        if kind == "BANK":
            record["BankAccountType"] = "BANK"
            record["CurrencyCode"] = "GBP"
            record["BankAccountNumber"] = "12345678"
        if system:
            record["SystemAccount"] = system
        tenant.put("Accounts", account_id, record, now)
    for tax_type, name, report, rate in _TAX_RATES:
        tenant.put("TaxRates", tax_type.lower(), {
            "Name": name, "TaxType": tax_type, "ReportTaxType": report, "Status": "ACTIVE",
            "DisplayTaxRate": Decimal(rate), "EffectiveRate": Decimal(rate),
            "CanApplyToRevenue": report != "INPUT", "CanApplyToExpenses": report != "OUTPUT",
            "CanApplyToAssets": True, "CanApplyToEquity": True, "CanApplyToLiabilities": True,
            "TaxComponents": [{"Name": "VAT", "Rate": Decimal(rate), "IsCompound": False,
                               "IsNonRecoverable": False}],
        }, now)
    for category, options in _TRACKING.items():
        category_id = _uuid(f"{tenant.tenant_id}:tracking:{category}")
        tenant.put("TrackingCategories", category_id, {
            "TrackingCategoryID": category_id, "Name": category, "Status": "ACTIVE",
            "Options": [{"TrackingOptionID": _uuid(f"{category_id}:{option}"),
                         "Name": option, "Status": "ACTIVE"} for option in options],
        }, now)
