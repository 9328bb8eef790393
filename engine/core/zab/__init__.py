"""Zab as ZooKeeper speaks it on the quorum port, sans-IO: the database a server keeps in
memory, the learner's side of discovery, synchronisation and broadcast, and the leader's."""

__all__ = ["database", "leader", "learner"]
