"""Zab as ZooKeeper speaks it on the quorum port, sans-IO: the database a learner keeps
in memory and the learner's side of discovery, synchronisation and broadcast."""

__all__ = ["database", "learner"]
