"""Mappings read by the thousand (:mod:`syncline.state.mapping_reads`), on SQLite and on
PostgreSQL: a key list sent as one JSON value finds exactly the keys asked for, whatever
they hold (quotes, backslashes, unicode, JSON's own syntax), across more keys than one
query takes; digests carry the side's hash and version; the key listing pages through
every mapping once, in key order, without the mappings one run wrote; the id marks of a
full read (:class:`~syncline.engine.mapping_ids.MappingIds`) answers as a set would, and
the database lists exactly the mappings not marked in it."""

from __future__ import annotations

import hashlib

import pytest

from syncline.engine.mapping_ids import MappingIds
from syncline.model import Direction
from syncline.state import mapping_reads
from syncline.state.bulk import CreatedMappings
from syncline.state.store import StateStore

ODD = ["plain", "quote\"d", "back\\slash", "ünïcødé ✓ 😀", "[\"json\"]", "new\nline",
       "tab\there", "a,b;c|d", "NULL", "'single'", "{}", "\\u0041"]
"""Keys that a JSON key list must carry unchanged."""


def _digest(number: int) -> bytes:
    return hashlib.blake2b(str(number).encode(), digest_size=12).digest()


def _seed(store: StateStore, scope: int, a_keys: list[str], run_id: int) -> None:
    created = CreatedMappings(Direction.A_TO_B, "seeded")
    for number, key in enumerate(a_keys):
        created.a_keys.append(key)
        created.b_keys.append(f"b:{key}")
        created.hashes.append(_digest(number))
        created.a_versions.append(f"v{number}" if number % 2 else None)
        created.b_versions.append(None)
        created.codes.append("A")
    store.settle(scope_id=scope, run_id=run_id, created=[created])


def test_a_key_list_finds_exactly_the_keys_asked_for(store: StateStore) -> None:
    scope = store.scope_id("l", "contact")
    other = store.scope_id("l", "invoice")
    _seed(store, scope, ODD, run_id=1)
    _seed(store, other, ODD, run_id=1)  # same keys, another scope: never found
    asked = [*ODD[::2], "missing", "\"", ""]
    found = store.mapping_digests(scope, "a", asked)
    assert set(found.ids) == set(found.synced) == set(ODD[::2])
    for key in ODD[::2]:
        number = ODD.index(key)
        assert found.synced[key] == (_digest(number), f"v{number}" if number % 2 else None)
    by_b = store.mapping_digests(scope, "b", [f"b:{key}" for key in ODD])
    assert set(by_b.ids) == {f"b:{key}" for key in ODD}
    assert all(synced == (_digest(ODD.index(key[2:])), None)
               for key, synced in by_b.synced.items())
    assert set(by_b.ids.values()) == set(store.mapping_digests(scope, "a", ODD).ids.values())
    assert len(set(by_b.ids.values())) == len(ODD)
    assert store.mappings_for(scope, "a", asked).keys() == set(ODD[::2])


def test_more_keys_than_one_query_takes(store: StateStore,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mapping_reads, "_KEY_LIST_SIZE", 7)
    monkeypatch.setattr(mapping_reads, "IN_LIST_SIZE", 7)
    scope = store.scope_id("l", "contact")
    keys = [f"k{number:03d}" for number in range(50)]
    _seed(store, scope, keys, run_id=1)
    wanted = [*keys[3:45], "nope"]
    assert set(store.mapping_digests(scope, "a", wanted).ids) == set(keys[3:45])
    assert set(store.mappings_for(scope, "a", wanted)) == set(keys[3:45])


def test_the_key_listing_pages_through_every_mapping_but_one_runs(store: StateStore) -> None:
    scope = store.scope_id("l", "contact")
    earlier = [f"e{number:03d}" for number in range(23)] + ODD
    _seed(store, scope, earlier, run_id=1)
    _seed(store, scope, ["x-by-run-2", "y-by-run-2"], run_id=2)
    _seed(store, store.scope_id("l", "invoice"), ["other-scope"], run_id=1)
    pages = list(mapping_reads.mapping_keys(store.engine, scope, "a", written_before=2,
                                            page=5))
    listed = [key for page in pages for _, key in page]
    assert sorted(listed) == sorted(earlier)
    assert len(listed) == len(set(listed))
    ids = store.mapping_digests(scope, "a", earlier).ids
    assert all(ids[key] == mapping_id for page in pages for mapping_id, key in page)
    assert [key for _, key in store.mapping_keys(scope, "b", written_before=1).__next__()] \
        == ["b:x-by-run-2", "b:y-by-run-2"]


def test_mapping_ids_answer_as_a_set_would() -> None:
    ids = MappingIds()
    added = {0, 1, 7, 8, 9, 63, 64, 1000, 123_457, 5}
    for mapping_id in added:
        ids.add(mapping_id)
    ids.add(7)
    for mapping_id in range(0, 1100):
        assert (mapping_id in ids) == (mapping_id in added), mapping_id
    assert 123_457 in ids and 123_456 not in ids and 10**9 not in ids
    assert -1 not in ids and "7" not in ids
    with pytest.raises(ValueError, match="never negative"):
        ids.add(-3)
    in_bulk = MappingIds()
    in_bulk.add_all(sorted(added, reverse=True))
    assert [number for number in range(130_000) if number in in_bulk] == sorted(added)
    with pytest.raises(ValueError, match="never negative"):
        in_bulk.add_all([3, -3])
    assert 3 not in in_bulk  # none of them noted
    in_bulk.add_all(iter([2, 2]))
    marks = in_bulk.marks()
    assert [number for number in range(len(marks)) if marks[number]] == sorted(added | {2})
    assert MappingIds().marks() == b""


@pytest.mark.parametrize("share", [0, 1, 2, 3])
def test_unnoted_keys_are_exactly_the_mappings_whose_bit_is_clear(store: StateStore,
                                                                  share: int) -> None:
    """The database tests the marks (PostgreSQL ``get_byte``, SQLite ``substr``): whatever
    the keys hold, across pages, with ids past the marks' end, only other runs' mappings
    of the scope; the same answer as testing the marks here (the other databases' way)."""
    scope = store.scope_id("l", "contact")
    earlier = ODD + [f"e{number:03d}" for number in range(60)]
    _seed(store, scope, earlier, run_id=1)
    _seed(store, scope, ["x-by-run-2", "y-by-run-2"], run_id=2)
    _seed(store, store.scope_id("l", "invoice"), ["other-scope"], run_id=1)
    ids = store.mapping_digests(scope, "a", earlier).ids
    noted = MappingIds()
    # every id, none, every other one, or a few with the marks ending before the last ids
    chosen = {0: earlier, 1: [], 2: earlier[::2], 3: [ODD[1], ODD[3], "e001"]}[share]
    noted.add_all(ids[key] for key in chosen)
    if share == 3:
        assert max(ids.values()) >= len(noted.marks())  # ids past the end: not noted
    expected = sorted(key for key in earlier if key not in chosen)
    for side, prefix in (("a", ""), ("b", "b:")):
        pages = list(mapping_reads.unnoted_keys(store.engine, scope, side, 2,
                                                noted.marks(), page=5))
        got = [key for page in pages for key in page]
        assert sorted(got) == sorted(prefix + key for key in expected)
        assert got == sorted(got) and all(pages)  # key order, no empty page
    in_python = [key for page in mapping_reads.mapping_keys(store.engine, scope, "a", 2, 7)
                 for key in mapping_reads._unnoted(noted.marks(), page)]
    assert sorted(in_python) == expected
    assert [key for page in store.unnoted_keys(scope, "a", 1, noted.marks())
            for key in page] == ["x-by-run-2", "y-by-run-2"]  # run 1's left out
