"""Transports that carry messages between processes.

`tcp` is QuorumCnxManager over real sockets in ZooKeeper's own wire format (it can talk
to Java ZooKeeper servers); `quorum` carries the post-election packets between zkfle
nodes in a small framing of our own (it speaks no Zab).
"""

__all__ = ["quorum", "tcp"]
