"""Quorums: the servers of a config, who votes, what makes a quorum, and the config text
that travels with every vote, byte for byte as ZooKeeper writes it (reference §6)."""

__all__ = [
    "error",
    "hierarchical",
    "java",
    "majority",
    "parse",
    "properties",
    "server",
    "verifier",
]
