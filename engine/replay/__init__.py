"""Floor 5, everything that works on a recorded run: re-execute it on fresh cores (`cores`,
after the ancestors a fork or a later part names: `parents`), verify it (`verify`),
rebuild what the console shows (`state`, `tracked`) and move through it in time
(`player`, on an `index` of the file), continue it live (`fork`),
export it (`export`); and for real ZooKeeper servers, make a trace of their logs
(`zkimport`, with `clockskew`) and run their notifications through the model (`zkcheck`,
and live as a run goes: `livecheck`);
explain the outages of a trace or of server logs (`explainfile`, on engine.trace.explain).

Imports the core, the trace, the runtimes and the control surface.
"""

__all__ = [
    "cores",
    "explainfile",
    "export",
    "fork",
    "livecheck",
    "player",
    "state",
    "verify",
    "zkcheck",
    "zkimport",
]
