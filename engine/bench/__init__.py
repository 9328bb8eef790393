"""Floor 6, `zkfle bench`: the performance targets of DESIGN §6, one module per mode -
`elections` (election and failover), `zk` (real ZooKeeper measured beside them), `sim`,
`verify`, `recording`, `proxy`, `logs` (import and check), `explore` - on a common `harness` and
`probe`, with `cli` for the command line. The console's own mode is console.bench.

Imports every floor below it.
"""

__all__ = [
    "cli",
    "harness",
    "probe",
    "recording",
]
