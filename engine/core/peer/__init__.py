"""QuorumPeer: one server's life cycle as a pure state machine with a single door
(`QuorumPeer.step`), its inputs and outputs, and the main thread's loop around it."""

__all__ = ["io", "mainthread", "quorumpeer"]
