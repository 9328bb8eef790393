"""Real Apache ZooKeeper servers, run by zkfle: `server` launches them on 127.0.0.1 with
generated configs; `proxy` (with `relay` and `events`) sits on every link between them,
records what crosses and applies the network faults (DESIGN §3.7); `runtime` is
`--runtime zookeeper`, the three of them as a runtime of the Cluster facade."""

__all__ = ["events", "proxy", "runtime", "server"]
