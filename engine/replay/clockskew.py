"""Clock skew between servers, estimated from messages both ends logged.

A server stamps its log lines with its own clock: `t = T + off` for a true time `T`. If
server A logged sending a message at `tA` and server B logged receiving it at `tB`, the
message travelled forwards in true time, so `offB - offA <= tB - tA`. The smallest such
difference over all pairs A->B bounds the skew from above (`hi`), the smallest over pairs
B->A from below (`lo = -min(tA - tB)`): `lo <= offB - offA <= hi`.

A server's log shows when it sent a vote through its own loopback copy, which its
WorkerReceiver logs behind whatever it was already decoding, a few ms late; and log
timestamps have ms resolution. So the interval is widened by `NOISE_MS` on both sides.
The estimate is the smallest correction that makes every observed pair causal: 0 when the
interval contains 0 (the clocks agree within the message delays), else the end of the
interval nearest to 0. An empty interval gets its midpoint; it is flagged (a clock
jumped, or pairs were matched wrongly) when it is empty by more than `SLACK_MS`: less is
a loopback copy logged later still, as on a loaded machine just after a server resumed
from SIGSTOP (19 ms late, three servers on one clock came out lo 14, hi 10). Offsets
are relative to one reference server (the lowest sid with evidence) and chained along
the pairs with the most evidence; a server with no pair to any other keeps offset 0 and
is reported as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.vote import Sid

NOISE_MS = 5.0
"""How late a loopback copy may be logged after the vote left (see above)."""
SLACK_MS = 20.0
"""How far past NOISE_MS the pairs may contradict each other before they disagree."""


@dataclass(slots=True)
class Link:
    """What the pairs between two servers say: min(tB - tA) over messages A->B, and the
    number of pairs behind it."""

    min_delta_ms: float
    pairs: int = 1


@dataclass(frozen=True, slots=True)
class Skew:
    """One server's clock against the reference: `offset_ms` is added by its clock (so
    `t - offset_ms` is the reference's time), within [lo_ms, hi_ms] (None: unbounded)."""

    sid: Sid
    offset_ms: float
    lo_ms: float | None
    hi_ms: float | None
    pairs: int
    via: Sid | None
    """The server the offset was chained from (None: the reference, or no evidence)."""
    consistent: bool = True

    @property
    def status(self) -> str:
        """`reference`, `estimated` (chained from pairs) or `unknown` (no pair at all)."""
        if self.via is not None:
            return "estimated"
        return "reference" if self.lo_ms == 0.0 else "unknown"

    def json(self) -> dict[str, object]:
        return {
            "status": self.status,
            "offset_ms": round(self.offset_ms, 3),
            "lo_ms": None if self.lo_ms is None else round(self.lo_ms, 3),
            "hi_ms": None if self.hi_ms is None else round(self.hi_ms, 3),
            "pairs": self.pairs,
            "via": self.via,
            "consistent": self.consistent,
        }


class SkewEstimator:
    """Collects send/receive pairs, then estimates every server's offset."""

    def __init__(self) -> None:
        self.links: dict[tuple[Sid, Sid], Link] = {}

    def pair(self, sender: Sid, sent_ms: float, receiver: Sid, received_ms: float) -> None:
        """One message `sender` logged sending at `sent_ms` and `receiver` logged receiving
        at `received_ms` (each on its own clock)."""
        if sender == receiver:
            return
        delta = received_ms - sent_ms
        link = self.links.get((sender, receiver))
        if link is None:
            self.links[(sender, receiver)] = Link(delta)
        else:
            link.pairs += 1
            if delta < link.min_delta_ms:
                link.min_delta_ms = delta

    def bounds(self, a: Sid, b: Sid) -> tuple[float | None, float | None, int]:
        """(lo, hi, pairs) of offB - offA."""
        ab = self.links.get((a, b))
        ba = self.links.get((b, a))
        hi = ab.min_delta_ms + NOISE_MS if ab is not None else None
        lo = -ba.min_delta_ms - NOISE_MS if ba is not None else None
        return lo, hi, (ab.pairs if ab else 0) + (ba.pairs if ba else 0)

    def estimate(self, sids: list[Sid]) -> dict[Sid, Skew]:
        """Every server's offset against the lowest sid that has evidence."""
        result: dict[Sid, Skew] = {}
        linked = sorted({s for link in self.links for s in link} & set(sids))
        if not linked:
            return {s: Skew(s, 0.0, None, None, 0, None) for s in sorted(sids)}
        reference = linked[0]
        result[reference] = Skew(reference, 0.0, 0.0, 0.0, 0, None)
        frontier = [reference]
        while frontier:
            # Grow along the best-evidenced link from any placed server to an unplaced one.
            best: tuple[int, int, Sid, Sid] | None = None
            for a in frontier:
                for b in linked:
                    if b in result:
                        continue
                    lo, hi, pairs = self.bounds(a, b)
                    if pairs == 0:
                        continue
                    key = (int(lo is not None and hi is not None), pairs, -b, a)
                    if best is None or key > best:
                        best = key
            if best is None:
                break
            a, b = best[3], -best[2]
            lo, hi, pairs = self.bounds(a, b)
            delta, consistent = _nearest_zero(lo, hi)
            base = result[a].offset_ms
            result[b] = Skew(
                b,
                base + delta,
                None if lo is None else base + lo,
                None if hi is None else base + hi,
                pairs,
                a,
                consistent,
            )
            frontier.append(b)
        for s in sorted(sids):
            result.setdefault(s, Skew(s, 0.0, None, None, 0, None))
        return result


def _nearest_zero(lo: float | None, hi: float | None) -> tuple[float, bool]:
    """The point of [lo, hi] nearest to 0 (an open end is unbounded), and whether the
    interval is non-empty, or empty by no more than SLACK_MS."""
    if lo is not None and hi is not None and lo > hi:
        return (lo + hi) / 2.0, lo - hi <= SLACK_MS
    if lo is not None and lo > 0:
        return lo, True
    if hi is not None and hi < 0:
        return hi, True
    return 0.0, True
