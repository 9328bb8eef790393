"""Floor 6, `zkfle explore`: seeded fault schedules on the simulator searched for invariant
violations, slow elections and other goals, each finding shrunk to a minimal script -
`schedule` (the nemesis), `goals`, `run` (one run), `shrink` (delta debugging),
`search` (runs to findings), `backends` (local processes or Dask) and `cli`.

Imports every floor below it.
"""

__all__ = [
    "backends",
    "cli",
    "goals",
    "run",
    "schedule",
    "search",
    "shrink",
]
