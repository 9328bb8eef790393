"""engine.core.zab.hashset: java.util.HashSet's iteration order, which a closeSession txn
lists a session's ephemerals in. The expected orders are what OpenJDK 17's HashSet gave
for the same adds, removes and clone."""

from __future__ import annotations

import itertools

from engine.core.zab.hashset import JavaHashSet, java_string_hash


def test_string_hash_is_javas() -> None:
    assert java_string_hash("") == 0
    assert java_string_hash("Aa") == java_string_hash("BB") == 2112
    assert java_string_hash("/app") == 1496978  # "/app".hashCode()
    assert java_string_hash("😀") == (0xD83D * 31 + 0xDE00)  # UTF-16 code units


def test_thirty_sequential_ephemerals_cloned() -> None:
    """A table grown to 64 buckets, then a clone sized for 30 (64 again)."""
    added = JavaHashSet(f"/app/lock-{i:010d}" for i in range(30))
    expected = [7, 29, 8, 9, 3, 25, 4, 26, 5, 27, 6, 28, 21, 0, 22, 1, 23, 2, 24, 20, 18]
    expected += [19, 14, 15, 16, 17, 10, 11, 12, 13]
    assert list(added.copy()) == [f"/app/lock-{i:010d}" for i in expected]


def test_removed_keys_leave_the_table_as_large_then_a_clone_shrinks_it() -> None:
    s = JavaHashSet(f"/s/n{i}" for i in range(20))
    for i in range(0, 24, 2):
        s.remove(f"/s/n{i}")
    clone = s.copy()
    clone.add("/s/new")
    clone.add("/s/n0")  # removed before the clone, so new to it
    assert list(clone) == [
        "/s/n19", "/s/n1", "/s/n17", "/s/n0", "/s/n15", "/s/n5",
        "/s/n13", "/s/new", "/s/n3", "/s/n11", "/s/n9", "/s/n7",
    ]  # fmt: skip
    assert len(clone) == 12
    assert "/s/n2" not in clone


def test_non_ascii_paths() -> None:
    s = JavaHashSet(["/é", "/😀", "/z", "/日本"]).copy()
    assert list(s) == ["/😀", "/é", "/z", "/日本"]


def test_nine_keys_of_one_hash_grow_a_small_table() -> None:
    """treeifyBin on a table under 64 buckets resizes it instead: the set keeps every key,
    in its order within the bucket ("Aa" and "BB" hash alike)."""
    same = ["/" + "".join(parts) for parts in itertools.product(("Aa", "BB"), repeat=4)][:9]
    s = JavaHashSet(same)
    assert list(s) == same
    assert list(s.copy()) == same
