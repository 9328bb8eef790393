"""Why an outage lasted as long as it did (`zkfle explain`, issue 16), as a pure function of
a trace's events: `outage` keeps each outage's window of events and words the answer (the
verdict, why the leader won, what each node did) around a critical path that one of two
walks finds - `steps` over zkfle's own runtimes' core steps, `logs` over real servers'
logged evidence (indexed by `logevidence`) - on what they share (`base`); `causes` is the
catalogue of named causes.

It sits on the trace's floor, beside `elections` whose outages it explains, because the
live `Cluster` (floor 4) explains the elections it tracks and `help causes` is part of the
command language; reading files (traces, logs) is engine.replay.explainfile's."""

__all__ = ["causes", "outage"]
