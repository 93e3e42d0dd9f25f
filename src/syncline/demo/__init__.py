"""``syncline demo``: two sample SQLite databases with different schemas, a link between
them, two syncs and an account of what happened (see :mod:`syncline.demo.flow`)."""

from __future__ import annotations

from syncline.demo.configuration import DEMO_CONFIG, LINK
from syncline.demo.flow import DEMO_FILES, ConflictStory, Demo
from syncline.demo.scenario import ConflictCase, Edit, EditReport

__all__ = [
    "DEMO_CONFIG",
    "DEMO_FILES",
    "LINK",
    "ConflictCase",
    "ConflictStory",
    "Demo",
    "Edit",
    "EditReport",
]
