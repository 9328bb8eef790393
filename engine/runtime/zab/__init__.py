"""Zab over TCP: a learner's snapshot and txn log on disk (`store`) and its connection to
a leader's quorum port, driving the pure learner of engine.core.zab (`follow`)."""

__all__ = ["follow", "store"]
