"""The reference data a new SANDBOX company starts with: its company information and
preferences, ledger accounts, tax rates and codes, payment terms and two service items, as a
small UK-style company would have."""

from __future__ import annotations

from syncline.sandbox.qbo.store import Company

__all__ = ["seed_company"]


def seed_company(company: Company) -> dict[str, str]:
    """Create the starting reference data; returns name -> Id of what was created."""
    ids: dict[str, str] = {}

    def add(entity: str, key: str, body: dict[str, object]) -> str:
        ids[key] = company.create(entity, body, setup=True)["Id"]
        return ids[key]

    sales = add("Account", "sales", {"Name": "Sales of Product Income", "AcctNum": "4000",
                                     "AccountType": "Income"})
    add("Account", "services", {"Name": "Services", "AcctNum": "4010", "AccountType": "Income"})
    add("Account", "receivable", {"Name": "Accounts Receivable (A/R)", "AcctNum": "1100",
                                  "AccountType": "Accounts Receivable"})
    add("Account", "payable", {"Name": "Accounts Payable (A/P)", "AcctNum": "2100",
                               "AccountType": "Accounts Payable"})
    add("Account", "bank", {"Name": "Current Account", "AcctNum": "1200",
                            "AccountType": "Bank"})
    add("Account", "office", {"Name": "Office Expenses", "AcctNum": "6000",
                              "AccountType": "Expense"})
    standard = add("TaxRate", "rate_standard", {"Name": "20.0% S", "RateValue": 20,
                                                "Active": True})
    zero = add("TaxRate", "rate_zero", {"Name": "0.0% Z", "RateValue": 0, "Active": True})
    add("TaxCode", "tax_standard", {
        "Name": "20.0% S", "Description": "Standard rated sales", "Active": True,
        "Taxable": True,
        "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": standard}}]}})
    add("TaxCode", "tax_zero", {
        "Name": "0.0% Z", "Description": "Zero rated sales", "Active": True, "Taxable": True,
        "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": zero}}]}})
    add("Term", "net30", {"Name": "Net 30", "DueDays": 30, "Active": True})
    add("Term", "receipt", {"Name": "Due on receipt", "DueDays": 0, "Active": True})
    add("Item", "consulting", {"Name": "Consulting", "Sku": "CONSULT", "Type": "Service",
                               "UnitPrice": 100, "IncomeAccountRef": {"value": sales}})
    add("Item", "hosting", {"Name": "Hosting", "Sku": "HOST", "Type": "Service",
                            "UnitPrice": 50, "IncomeAccountRef": {"value": sales}})
    # last, so that the Ids of the reference data above stay as they were
    add("CompanyInfo", "company", {
        "CompanyName": "Sandbox Company (UK)", "LegalName": "Sandbox Company Ltd",
        "Country": "GB", "FiscalYearStartMonth": "April", "CompanyStartDate": "2024-04-01",
        "SupportedLanguages": "en", "Email": {"Address": "books@sandbox.invalid"},
        "CompanyAddr": {"Line1": "1 Sandbox Street", "City": "London",
                        "PostalCode": "EC1A 1AA", "Country": "GB"},
        "NameValue": [{"Name": "NeoEnabled", "Value": "true"},
                      {"Name": "SANDBOX", "Value": "not the real QuickBooks Online"}]})
    add("Preferences", "preferences", {
        "AccountingInfoPrefs": {"TrackDepartments": False, "ClassTrackingPerTxn": False,
                                "ClassTrackingPerTxnLine": False,
                                "FirstMonthOfFiscalYear": "April", "TaxYearMonth": "April",
                                "CustomerTerminology": "Customers"},
        "ProductAndServicesPrefs": {"ForSales": True, "ForPurchase": True,
                                    "QuantityWithPriceAndRate": True,
                                    "QuantityOnHand": True},
        "SalesFormsPrefs": {"CustomTxnNumbers": False, "AllowDiscount": True,
                            "AllowDeposit": False, "AllowShipping": False,
                            "DefaultTerms": {"value": ids["net30"], "name": "Net 30"},
                            "AutoApplyCredit": True},
        "VendorAndPurchasesPrefs": {"BillableExpenseTracking": False,
                                    "TrackingByCustomer": False},
        "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": True},
        "CurrencyPrefs": {"MultiCurrencyEnabled": False,
                          "HomeCurrency": {"value": "GBP"}},
        "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
        "OtherPrefs": {"NameValue": [{"Name": "SalesFormsPrefs.DefaultCustomerMessage",
                                      "Value": "Thank you for your business."}]}})
    return ids
