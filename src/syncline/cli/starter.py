"""The commented starter ``syncline.toml`` that ``syncline init`` writes."""

from __future__ import annotations

__all__ = ["STARTER_CONFIG"]

STARTER_CONFIG = """\
# syncline configuration. Check it with `syncline status`, prepare the endpoints with
# `syncline setup crm-books`, then run `syncline sync crm-books`.
#
# Relative paths (and sqlite:/// URLs) resolve against this file's folder.
# Any setting written "env:NAME" is read from the environment variable NAME when used,
# e.g.  url = "env:CRM_DATABASE_URL"

# Where syncline keeps its own state: mappings, cursors, runs, the journal, conflicts.
[state]
url = "sqlite:///syncline-state.db"        # or postgresql+psycopg://user@host/db

# An endpoint is one system: a connector type plus its settings.
# `syncline connectors` lists the connector types and what each can do.
[endpoints.crm]
connector = "sql"
url = "sqlite:///crm.db"                   # or postgresql+psycopg://..., mysql+pymysql://...

# A stream is one entity type on an endpoint. Map its table, its key column and, for
# each canonical field (name, email, phone, ...), the column that holds it.
[endpoints.crm.streams.contact]
table = "people"
key = "person_id"
fields = { name = "full_name", email = "email_address", phone = "phone" }
# updated = "modified_at"                  # the row's modification time, if the table has
#                                          # one: conflict = "newest" needs it on both sides

[endpoints.books]
connector = "sql"
url = "sqlite:///books.db"

[endpoints.books.streams.contact]
table = "customers"
key = "cust_no"
fields = { name = "name", email = "email", phone = "tel" }

# A link keeps two endpoints in step.
[links.crm-books]
a = "crm"
b = "books"
streams = ["contact"]
direction = "both"        # both | a-to-b | b-to-a
# A record changed on both sides: a-wins | b-wins | newest | merge | manual. "newest"
# knows which side changed last only from an `updated` column (or the change log that
# `syncline setup` installs, for rows changed since then); when it cannot tell, a wins.
conflict = "newest"
# Records on both sides paired at the first sync are merged: an empty value never
# overwrites a filled one; values filled differently go by: merge (the conflict policy
# above) | a-wins | b-wins | review (held for `syncline conflicts`).
first_sync = "merge"
match = { contact = ["email"] }   # first sync: pair existing records by these fields
max_delete = "25%"        # a run deleting more of a stream stops unless --allow-mass-delete
"""
