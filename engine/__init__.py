"""zkfle's engine: a faithful, pure re-implementation of ZooKeeper's Fast Leader Election,
the runtimes around it (threads, simulator, TCP, real ZooKeeper), the Cluster facade, and
what works on a recorded run (replay, verify, fork, import, check).

Floors, each importing only from the floors below it (tests/test_architecture.py):

1. `core` - the pure election engine; imports nothing else of ours
2. `trace` - the trace as data
3. `runtime` - what runs the cores
4. `control` - the Cluster facade and the command language
5. `replay` - what works on a recorded run
6. `bench` - `zkfle bench`; `explore` - `zkfle explore`

Each package's `__all__` names its public modules (the console imports only those); a
module it does not name serves its own package.
"""

__all__ = ["bench", "control", "core", "explore", "replay", "runtime", "trace"]
