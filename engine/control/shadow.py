"""What the facade asks of the reconstruction that judges `break when` at each event: the
cluster as its trace shows it, fed one event at a time.

A predicate needs a view, and a live view takes every node's lock, which the recorder's
gate (called while the emitting thread holds its node's lock) cannot take. The replay's
reconstruction (engine.replay.state.ClusterState) rebuilds the same view from the events
alone, so the gate applies each event to it and judges the predicates there: the run
halts at the event that made a predicate true, the one a replay of the trace stops at.
It sits a floor above the facade, so the front end passes the factory (as it passes the
model check, engine.control.modelcheck).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from engine.core.view import ClusterView


class Shadow(Protocol):
    """The cluster after the last event it was given."""

    def apply(self, event: dict[str, Any]) -> object: ...

    def view(self) -> ClusterView: ...


MakeShadow = Callable[[Mapping[str, Any], str, Iterable[dict[str, Any]]], Shadow]
"""Builds the shadow of a run from a trace header, the trace's name (where the ancestors a
header's `parent` names are looked for) and its events from seq 1, in order."""
