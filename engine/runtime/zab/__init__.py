"""Zab over TCP: a server's snapshot and txn log on disk (`store`), a learner's connection
to a leader's quorum port (`follow`) and a leader's side of its learners' connections
(`lead`), driving the pure learner and leader of engine.core.zab."""

__all__ = ["follow", "lead", "store"]
