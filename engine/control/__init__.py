"""Floor 4, the control surface: the `Cluster` facade the console, the shell and scripts
drive (and what it delegates to: `setup`, `clock`, `gate`, `lifecycle`, `links`,
`writes`, `report`), the breakpoints every runtime and the replayer stop at
(`breakpoints`), and the one command language - its commands and grammar (`commands`), values
(`values`), predicates, node-word resolution (`resolve`), help and completion; what it
asks of a model check that follows a live run (`modelcheck`) and of the reconstruction
that judges `break when` at each event (`shadow`); and a cluster run in a child process
that the console drives without sharing its interpreter (`remote`).

Imports the core, the trace and the runtimes.
"""

__all__ = [
    "breakpoints",
    "cluster",
    "commands",
    "complete",
    "help",
    "modelcheck",
    "predicates",
    "remote",
    "resolve",
    "shadow",
    "values",
]
