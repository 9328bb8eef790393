"""The iteration order of Java's HashMap<Long, ...> and Properties, which decides the
order of the lines of a verifier's config text.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.core.quorum.java import LONG_MASK


def _long_hash(key: int) -> int:
    """HashMap.hash(Long): Long.hashCode folded, then spread (h ^ h >>> 16), as unsigned 32-bit."""
    u = key & LONG_MASK
    h = (u ^ (u >> 32)) & 0xFFFFFFFF
    return h ^ (h >> 16)


class _TreeNode:
    """A node of a red-black tree bin (HashMap.TreeNode), ordered by (hash as a Java int, key)."""

    __slots__ = ("key", "left", "order", "parent", "red", "right")

    def __init__(self, key: int) -> None:
        h = _long_hash(key)
        self.key = key
        self.order = (h - (1 << 32) if h >= 1 << 31 else h, key)
        self.left: _TreeNode | None = None
        self.right: _TreeNode | None = None
        self.parent: _TreeNode | None = None
        self.red = False


def _rotate(root: _TreeNode, p: _TreeNode, left: bool) -> _TreeNode:
    """Rotate `p` down to the left (or right); returns the root, which is kept black."""
    c = p.right if left else p.left
    if c is None:
        return root
    inner = c.left if left else c.right
    if left:
        p.right = inner
    else:
        p.left = inner
    if inner is not None:
        inner.parent = p
    c.parent = pp = p.parent
    if pp is None:
        root, c.red = c, False
    elif pp.left is p:
        pp.left = c
    else:
        pp.right = c
    if left:
        c.left = p
    else:
        c.right = p
    p.parent = c
    return root


def _tree_insert(root: _TreeNode | None, x: _TreeNode) -> tuple[_TreeNode, _TreeNode | None]:
    """Insert `x` (red-black insertion as in CLRS); returns the new root and x's parent."""
    if root is None:
        return x, None
    p = root
    while True:
        child = p.left if x.order < p.order else p.right
        if child is None:
            break
        p = child
    x.parent = p
    if x.order < p.order:
        p.left = x
    else:
        p.right = x
    parent, x.red = p, True
    xp: _TreeNode | None
    xpp: _TreeNode | None
    while (xp := x.parent) is not None and xp.red and (xpp := xp.parent) is not None:
        on_left = xp is xpp.left
        uncle = xpp.right if on_left else xpp.left
        if uncle is not None and uncle.red:
            uncle.red = xp.red = False
            xpp.red, x = True, xpp
            continue
        if x is (xp.right if on_left else xp.left):
            x = xp
            root = _rotate(root, x, left=on_left)
            xp = x.parent
            xpp = xp.parent if xp is not None else None
        if xp is not None:
            xp.red = False
            if xpp is not None:
                xpp.red = True
                root = _rotate(root, xpp, left=not on_left)
    root.red = False
    return root, parent


def _treeify(keys: list[int]) -> tuple[list[int], _TreeNode]:
    """HashMap.TreeNode.treeify: a tree of the bin, whose root moves to the front."""
    root: _TreeNode | None = None
    for key in keys:
        root, _ = _tree_insert(root, _TreeNode(key))
    assert root is not None
    return [root.key, *(k for k in keys if k != root.key)], root


def hashmap_order(keys: Iterable[int]) -> list[int]:
    """The iteration order of a java.util.HashMap<Long, …> after putting `keys` in order.

    Buckets in index order. A bucket is a list in insertion order until it holds 9 keys:
    then the table doubles if it has fewer than 64 buckets (HashMap.treeifyBin), else the
    bucket becomes a red-black tree whose root is moved to the front and whose new keys
    go right after their parent. The table starts at 16 buckets and doubles when
    size > 0.75 × capacity; a resize keeps the order within each half of a bucket and
    turns halves of 6 or fewer keys back into lists. Re-putting a key keeps its place.
    """
    cap = 16
    bins: dict[int, tuple[list[int], _TreeNode | None]] = {}
    size = 0
    seen: set[int] = set()

    def resize() -> None:
        nonlocal cap, bins
        grown: dict[int, tuple[list[int], _TreeNode | None]] = {}
        for index, (order, root) in bins.items():
            halves = [[k for k in order if not _long_hash(k) & cap]]
            halves.append([k for k in order if _long_hash(k) & cap])
            for half, at in zip(halves, (index, index + cap), strict=True):
                if not half:
                    continue
                if root is None or len(half) <= 6:  # TreeNode.split: untreeify
                    grown[at] = (half, None)
                elif len(half) == len(order):
                    grown[at] = (order, root)  # the whole tree moves unchanged
                else:
                    grown[at] = _treeify(half)
        cap, bins = cap * 2, grown

    for key in keys:
        if key in seen:
            continue
        seen.add(key)
        index = _long_hash(key) & (cap - 1)
        order, root = bins.setdefault(index, ([], None))
        if root is not None:  # HashMap.TreeNode.putTreeVal
            node = _TreeNode(key)
            root, parent = _tree_insert(root, node)
            assert parent is not None
            order.insert(order.index(parent.key) + 1, key)
            order.remove(root.key)
            order.insert(0, root.key)
            bins[index] = (order, root)
        else:
            order.append(key)
            if len(order) >= 9:  # HashMap.treeifyBin
                if cap < 64:
                    resize()
                else:
                    bins[index] = _treeify(order)
        size += 1
        if size > cap * 3 // 4:
            resize()
    return [k for index in sorted(bins) for k in bins[index][0]]


def _string_hash(text: str) -> int:
    """ConcurrentHashMap.spread(String.hashCode()) over UTF-16 code units."""
    h = 0
    units = text.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(units), 2):
        h = (31 * h + (units[i] << 8 | units[i + 1])) & 0xFFFFFFFF
    return (h ^ (h >> 16)) & 0x7FFFFFFF


def properties_order(keys: Iterable[str]) -> list[str]:
    """The iteration order of a java.util.Properties after putting `keys` in order.

    Since Java 9 Properties is backed by a ConcurrentHashMap created with capacity 8: a
    table of 16 bins, each bin appending new keys at its tail, which doubles once the size
    reaches 0.75 × capacity. A resize (ConcurrentHashMap.transfer) moves the longest tail
    run of a bin that lands in one half as is and puts the other nodes in front of their
    half in reverse order. Re-putting a key keeps its place.
    """
    n = 16
    bins: list[list[tuple[int, str]]] = [[] for _ in range(n)]
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            continue
        seen.add(key)
        h = _string_hash(key)
        bins[h & (n - 1)].append((h, key))
        while len(seen) >= n * 3 // 4:
            grown: list[list[tuple[int, str]]] = [[] for _ in range(2 * n)]
            for i, nodes in enumerate(bins):
                if not nodes:
                    continue
                last_run = len(nodes) - 1
                while last_run > 0 and (nodes[last_run - 1][0] & n) == (nodes[-1][0] & n):
                    last_run -= 1
                lo = [] if nodes[-1][0] & n else nodes[last_run:]
                hi = nodes[last_run:] if nodes[-1][0] & n else []
                for node in nodes[:last_run]:
                    (hi if node[0] & n else lo).insert(0, node)
                grown[i], grown[i + n] = lo, hi
            bins, n = grown, 2 * n
    return [key for nodes in bins for _, key in nodes]


__all__ = ["hashmap_order", "properties_order"]
