"""Floor 3, the runtimes: what runs the cores - ZooKeeper's threads as operations (`host`,
built on `network`, `electionplane`, `zabplane` and `held`; `hosted` its records, `views`),
on real threads and the wall clock (`threads`, their `threadpool`, the `interpreter`
settings of a large cluster) or one thread in virtual time (`sim`), one server as its own
process over TCP (`tcpnode` on `quorumside`, `transport`; `node` is its command line,
`clientport` refuses its clients), link faults, durable state - Zab to a real leader
(`zab`), and real ZooKeeper servers behind a recording proxy (`zookeeper`); `protocol` is
what the Cluster facade asks of any of them.

Imports the core and the trace.
"""

__all__ = [
    "clientport",
    "durable",
    "faults",
    "host",
    "hosted",
    "interpreter",
    "node",
    "protocol",
    "sim",
    "tcpnode",
    "threadpool",
    "threads",
    "transport",
    "views",
    "zab",
    "zookeeper",
]
