"""``syncline demo``: two sample SQLite databases with different schemas, a link between
them, two syncs and an account of what happened (see :mod:`syncline.demo.flow`); then the
CRM's contacts, appointments and tasks synced with a folder of .vcf / .ics files (see
:mod:`syncline.demo.groupware`)."""

from __future__ import annotations

from syncline.demo.configuration import DEMO_CONFIG, LINK
from syncline.demo.flow import DEMO_FILES, ConflictStory, Demo
from syncline.demo.groupware import GROUPWARE_FOLDER, GROUPWARE_LINKS, FolderContents
from syncline.demo.scenario import ConflictCase, Edit, EditReport

__all__ = [
    "DEMO_CONFIG",
    "DEMO_FILES",
    "GROUPWARE_FOLDER",
    "GROUPWARE_LINKS",
    "LINK",
    "ConflictCase",
    "ConflictStory",
    "Demo",
    "Edit",
    "EditReport",
    "FolderContents",
]
