"""Transports that carry messages between processes.

`tcp` is QuorumCnxManager over real sockets in ZooKeeper's own wire format (it can talk
to Java ZooKeeper servers), with `handshake` reading the handshakes of the connections it
accepts; `quorum` carries the post-election packets between zkfle nodes in a small
framing of our own, and hands a connection whose leader speaks Zab to the Zab learner.
`sockets` is what both (and the Zab learner) share: addresses, `TransportError`,
listening, connecting within a deadline, waking and joining threads.
"""

__all__ = ["handshake", "quorum", "sockets", "tcp"]
