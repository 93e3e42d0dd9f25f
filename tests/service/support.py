"""Helpers of the service tests: a configuration over two memory endpoints with the streams
forced resynchronisation cares about, written to a file so that CLI and subprocesses can
load it too."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from syncline.config import Config, load_config
from syncline.connectors.memory import MemoryStore, shared_store

STREAM_FIELDS = {
    "organisation": ["name", "number", "owner"],
    "contact": ["name", "email", "organisation", "owner"],
    "task": ["uid", "summary", "due", "contact", "owner"],
    "event": ["uid", "summary", "start", "contact", "owner"],
    "invoice": ["number", "contact", "date", "due_date", "total", "owner"],
    "tax_rate": ["code", "name", "rate"],
}


@dataclass
class MemoryLink:
    """Link ``lr`` between memory endpoints ``left`` (a) and ``right`` (b)."""

    path: Path
    a: MemoryStore
    b: MemoryStore

    def config(self) -> Config:
        return load_config(self.path)

    def args(self, *more: str) -> list[str]:
        return [*more, "--config", str(self.path)]


def _fields_toml(endpoint: str, streams: list[str]) -> str:
    return "".join(f"[endpoints.{endpoint}.streams.{stream}]\nfields = "
                   f"{STREAM_FIELDS[stream]!r}\n".replace("'", '"') for stream in streams)


def memory_link(folder: Path, *, streams: list[str] | None = None, link_extra: str = "",
                extra: str = "", state: str = "sqlite:///state.db") -> MemoryLink:
    """Write ``folder/syncline.toml`` linking two fresh memory stores."""
    chosen = streams or ["contact"]
    unique = uuid.uuid4().hex
    a_name, b_name = f"svc-a-{unique}", f"svc-b-{unique}"
    listed = ", ".join(f'"{stream}"' for stream in chosen)
    path = folder / "syncline.toml"
    path.write_text(f"""\
[state]
url = "{state}"

[endpoints.left]
connector = "memory"
name = "{a_name}"
{_fields_toml("left", chosen)}
[endpoints.right]
connector = "memory"
name = "{b_name}"
{_fields_toml("right", chosen)}
[links.lr]
a = "left"
b = "right"
streams = [{listed}]
max_delete = "100%"
{link_extra}
{extra}""", encoding="utf-8")
    return MemoryLink(path, shared_store(a_name), shared_store(b_name))
