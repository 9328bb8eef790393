"""Floor 1, the pure core: ZooKeeper's election engine as deterministic state machines,
jute's records byte for byte, and Zab's learner.

Nothing here reads a clock, sleeps, draws random numbers, logs, locks or opens a socket,
and nothing here imports another floor of the engine: time and the environment come in
as inputs (DESIGN §2.1).
"""

__all__ = [
    "cnxmanager",
    "config",
    "election",
    "jute",
    "peer",
    "quorum",
    "quorumpacket",
    "view",
    "vote",
    "wire",
    "zab",
]
