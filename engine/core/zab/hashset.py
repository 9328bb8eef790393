"""java.util.HashSet's order, in which ZooKeeper's closeSession txn lists the session's
ephemerals: PrepRequestProcessor copies DataTree's set of them (getEphemerals: clone),
applies the outstanding changes and lists the copy as it iterates.

The set keeps its keys as java.util.HashMap (JDK 8-18) does: a table of 2^k buckets, a
key in bucket `spread(String.hashCode) & (2^k - 1)`, appended at its bucket's end; the
table doubles once the keys outnumber three quarters of it, or when a bucket reaches
nine keys in a table under 64 (treeifyBin), each bucket's keys keeping their order. A
table of 64 or more would turn such a bucket into a tree, whose order is not modelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

_DEFAULT_CAPACITY = 16
_TREEIFY_THRESHOLD = 8
_MIN_TREEIFY_CAPACITY = 64


def java_string_hash(s: str) -> int:
    """String.hashCode over the UTF-16 code units, as an unsigned 32-bit value."""
    h = 0
    units = s.encode("utf-16-be")
    for i in range(0, len(units), 2):
        h = (31 * h + (units[i] << 8 | units[i + 1])) & 0xFFFFFFFF
    return h


def _spread(key: str) -> int:
    """HashMap.hash: the high half folded into the low one."""
    h = java_string_hash(key)
    return h ^ (h >> 16)


def _table_size_for(c: int) -> int:
    """HashMap.tableSizeFor: the least power of two not below `c`."""
    return 1 if c <= 1 else 1 << (c - 1).bit_length()


class JavaHashSet:
    """A HashSet of strings iterating in Java's order."""

    def __init__(self, keys: Iterable[str] = (), *, capacity: int = _DEFAULT_CAPACITY) -> None:
        self._first_capacity = capacity
        """The table a first key makes (HashMap's pre-sized threshold, or the default)."""
        self._buckets: list[list[str]] = []
        self._keys: set[str] = set()
        for key in keys:
            self.add(key)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[str]:
        for bucket in self._buckets:
            yield from bucket

    def add(self, key: str) -> None:
        """HashMap.putVal of a new key (a key already there keeps its place)."""
        if key in self._keys:
            return
        if not self._buckets:
            self._buckets = [[] for _ in range(self._first_capacity)]
        bucket = self._buckets[_spread(key) & (len(self._buckets) - 1)]
        bucket.append(key)
        self._keys.add(key)
        if len(bucket) > _TREEIFY_THRESHOLD and len(self._buckets) < _MIN_TREEIFY_CAPACITY:
            self._resize()  # treeifyBin: a small table grows instead
        if len(self._keys) > len(self._buckets) * 3 // 4:
            self._resize()

    def remove(self, key: str) -> None:
        """The table never shrinks."""
        if key in self._keys:
            self._keys.discard(key)
            self._buckets[_spread(key) & (len(self._buckets) - 1)].remove(key)

    def copy(self) -> JavaHashSet:
        """HashSet.clone -> HashMap.clone: a table sized for the keys now (putMapEntries:
        tableSizeFor(size / 0.75 + 1), JDK 8-18), filled in this set's order."""
        if not self._keys:
            return JavaHashSet()
        capacity = _table_size_for(int(len(self._keys) / 0.75 + 1.0))
        return JavaHashSet(self, capacity=capacity)

    def _resize(self) -> None:
        """HashMap.resize: twice the buckets; each old bucket's keys split in order."""
        buckets: list[list[str]] = [[] for _ in range(2 * len(self._buckets))]
        mask = len(buckets) - 1
        for bucket in self._buckets:
            for key in bucket:
                buckets[_spread(key) & mask].append(key)
        self._buckets = buckets
