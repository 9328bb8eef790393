"""Transports that carry messages between processes.

`tcp` is QuorumCnxManager over real sockets in ZooKeeper's own wire format (it can talk
to Java ZooKeeper servers); `quorum` carries the post-election packets between zkfle
nodes in a small framing of our own (it speaks no Zab).
"""

from engine.transport.quorum import QuorumHooks, QuorumPlane
from engine.transport.tcp import CnxHooks, TcpCnxManager, TransportError

__all__ = ["CnxHooks", "QuorumHooks", "QuorumPlane", "TcpCnxManager", "TransportError"]
