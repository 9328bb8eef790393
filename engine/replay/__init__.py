"""Floor 5, everything that works on a recorded run: re-execute it on fresh cores (`cores`,
after the ancestors a fork or a later part names: `parents`), verify it (`verify`),
rebuild what the console shows (`state`, `tracked`) and move through it in time
(`player`, on an `index` of the file), continue it live (`fork`),
export it (`export`); and for real ZooKeeper servers, make a trace of their logs
(`zkimport`, with `clockskew`) and run their notifications through the model (`zkcheck`).

Imports the core, the trace, the runtimes and the control surface.
"""

__all__ = [
    "cores",
    "export",
    "fork",
    "player",
    "state",
    "verify",
    "zkcheck",
    "zkimport",
]
