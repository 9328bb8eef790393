"""What `zkfle check` reports: each disagreement with the model, and per server what was
checked (as text, and as the JSON of `zkfle check --json`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.core.vote import Sid


@dataclass(frozen=True, slots=True)
class Disagreement:
    node: Sid
    seq: int
    step: int
    what: str
    model: str
    real: str
    src: str = ""
    at: str = ""

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "node": self.node,
            "seq": self.seq,
            "step": self.step,
            "what": self.what,
            "model": self.model,
            "real": self.real,
        }
        if self.src:
            out["src"] = self.src
        if self.at:
            out["at"] = self.at
        return out

    def __str__(self) -> str:
        where = f" ({self.src})" if self.src else ""
        return (
            f"n{self.node} step {self.step} seq {self.seq}{where}: {self.what}:"
            f" model {self.model}, real {self.real}"
        )


@dataclass(slots=True)
class NodeReport:
    sid: Sid
    steps: int = 0
    elections: int = 0
    decisions: int = 0
    checked_decisions: int = 0
    sends_checked: int = 0
    unchecked: list[str] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "steps": self.steps,
            "elections": self.elections,
            "decisions": self.decisions,
            "decisions_checked": self.checked_decisions,
            "sends_checked": self.sends_checked,
            "unchecked": self.unchecked,
        }


@dataclass(slots=True)
class CheckReport:
    trace: str
    events: int
    seconds: float
    nodes: dict[Sid, NodeReport]
    disagreements: list[Disagreement]
    notes: list[str]

    @property
    def ok(self) -> bool:
        return not self.disagreements

    def json(self) -> dict[str, Any]:
        return {
            "trace": self.trace,
            "ok": self.ok,
            "events": self.events,
            "events_per_s": round(self.events / self.seconds) if self.seconds > 0 else None,
            "nodes": [n.json() for _, n in sorted(self.nodes.items())],
            "disagreements": [d.json() for d in self.disagreements],
            "notes": self.notes,
        }

    def text(self) -> str:
        out = [str(d) for d in self.disagreements]
        for sid, n in sorted(self.nodes.items()):
            out.append(
                f"n{sid}: {n.elections} election(s), {n.checked_decisions}/{n.decisions}"
                f" decisions and {n.sends_checked} sent votes checked in {n.steps} steps"
                + (f"; not checked: {'; '.join(n.unchecked)}" if n.unchecked else "")
            )
        out += self.notes
        verdict = (
            "no disagreement with the model"
            if self.ok
            else f"{len(self.disagreements)} disagreement(s) with the model"
        )
        out.append(f"zkfle check: {self.trace}: {verdict} ({self.events} events)")
        return "\n".join(out)
