"""The demo's ``syncline.toml``: both databases described, linked both ways, and the CRM's
people, appointments and tasks linked with a folder of .vcf / .ics files."""

from __future__ import annotations

from syncline.demo.groupware import GROUPWARE_CONFIG

__all__ = ["DEMO_CONFIG", "LINK"]

LINK = "crm-books"
"""The name of the demo's link between the two databases."""

DEMO_CONFIG = """\
# syncline demo configuration, written by `syncline demo`.
# Two SQLite databases with different schemas, kept in step both ways:
#   crm.db    a CRM: organisations, people, products, invoices + invoice_lines,
#             appointments, tasks
#   books.db  an accounting package: companies, customers, stock_items,
#             sales_invoices + sales_invoice_lines
# The CRM's people, appointments and tasks are also kept in step with groupware/,
# a folder of .vcf and .ics files (see the end of this file).
# Relative paths resolve against this file's folder.

# syncline's own state: mappings, cursors, runs, journal, conflicts.
[state]
url = "sqlite:///syncline-state.db"

# ---------------------------------------------------------------- the CRM (side a)
[endpoints.crm]
connector = "sql"
url = "sqlite:///crm.db"

# Each stream maps one canonical entity type onto a table: its key column and
# canonical field = column. Fields only one side maps (mobile, title...) are not synced.
[endpoints.crm.streams.organisation]
table = "organisations"
key = "org_id"
[endpoints.crm.streams.organisation.fields]   # canonical field = column
name = "name"
number = "org_number"
email = "email"
phone = "phone"
website = "website"
tax_number = "vat_number"
street = "street"
city = "city"
postcode = "postcode"
country = "country"

[endpoints.crm.streams.contact]
table = "people"
key = "person_id"
[endpoints.crm.streams.contact.fields]
name = "full_name"
first_name = "first_name"
last_name = "last_name"
email = "email_address"
phone = "phone"
mobile = "mobile"
organisation = "org_id"
title = "job_title"
city = "city"
country = "country"

[endpoints.crm.streams.item]
table = "products"
key = "product_id"
[endpoints.crm.streams.item.fields]
code = "sku"
name = "name"
description = "description"
unit_price = "list_price"
cost_price = "unit_cost"
active = "is_active"

# Documents carry their lines in a second table (parent = the column naming the invoice).
[endpoints.crm.streams.invoice]
table = "invoices"
key = "invoice_id"
[endpoints.crm.streams.invoice.fields]
number = "invoice_no"
contact = "person_id"
date = "issued_on"
due_date = "due_on"
currency = "currency"
status = "status"
subtotal = "net_amount"
tax_total = "vat_amount"
total = "gross_amount"
[endpoints.crm.streams.invoice.lines]
table = "invoice_lines"
key = "line_id"
parent = "invoice_id"
order = "line_no"
[endpoints.crm.streams.invoice.lines.fields]
description = "description"
item = "product_id"
quantity = "quantity"
unit_price = "unit_price"
line_amount = "line_total"

# ------------------------------------------------------ the accounting package (side b)
[endpoints.books]
connector = "sql"
url = "sqlite:///books.db"

[endpoints.books.streams.organisation]
table = "companies"
key = "company_ref"
[endpoints.books.streams.organisation.fields]
name = "comp_name"
number = "reg_no"
email = "mail"
phone = "tel"
website = "web"
tax_number = "tax_id"
street = "addr_line"
city = "town"
postcode = "zip"
country = "country_code"

[endpoints.books.streams.contact]
table = "customers"
key = "cust_no"
[endpoints.books.streams.contact.fields]
name = "name"
email = "email"
phone = "tel"
organisation = "company_ref"
city = "town"
country = "country_code"

[endpoints.books.streams.item]
table = "stock_items"
key = "item_id"
[endpoints.books.streams.item.fields]
code = "item_code"
name = "title"
unit_price = "sales_price"
cost_price = "purchase_price"
active = "active"

[endpoints.books.streams.invoice]
table = "sales_invoices"
key = "inv_id"
[endpoints.books.streams.invoice.fields]
number = "inv_number"
contact = "cust_no"
date = "inv_date"
due_date = "due_date"
currency = "curr"
status = "state"
subtotal = "net"
tax_total = "vat"
total = "gross"
[endpoints.books.streams.invoice.lines]
table = "sales_invoice_lines"
key = "id"
parent = "inv_id"
order = "pos"
[endpoints.books.streams.invoice.lines.fields]
description = "text"
item = "item_id"
quantity = "qty"
unit_price = "price"
line_amount = "amount"

# ---------------------------------------------------------------------- the link
[links.crm-books]
a = "crm"
b = "books"
# Synced in reference order whatever the order here: invoices need their contact
# and items on the other side first.
streams = ["organisation", "contact", "item", "invoice"]
direction = "both"        # both | a-to-b | b-to-a
conflict = "newest"       # changed on both sides: the later change wins
# On the first sync, records already on both sides are paired by these natural keys
# instead of being created twice.
match = { organisation = ["number"], contact = ["email"], item = ["code"], invoice = ["number"] }
max_delete = "25%"        # a run deleting more of a stream stops unless --allow-mass-delete
""" + GROUPWARE_CONFIG
