"""Test tools for connector authors: the contract every connector keeps, as a pytest suite.

A connector (built in, or a third party's registered under the entry-point group
``syncline.connectors``) proves itself by subclassing :class:`ConnectorContract` in a test
module whose class name starts with ``Test`` and providing its fixtures (see
:mod:`syncline.testing.contract`), then running pytest. Needs pytest (``pip install
pytest``); importing this package registers the contract module for pytest's assertion
rewriting, so a failed check shows the values it compared.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("syncline.testing.contract")

from syncline.testing.contract import (  # noqa: E402  (after the rewrite registration)
    ConnectorContract,
    FieldMaker,
    OutsideEditor,
    same,
)

__all__ = ["ConnectorContract", "FieldMaker", "OutsideEditor", "same"]
