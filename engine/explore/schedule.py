"""Random fault schedules as command-language scripts: the nemesis of `zkfle explore` and of
the chaos tests (tests/chaos.py), so that every schedule is a script anyone can run.

A schedule is plain lines (`crash leader`, `partition 1,2|3,4,5`, `loss 1->* 30%`,
`wait 400ms`, ...) drawn from a `random.Random` by weighted operations (`Mix`). Nothing here
runs a cluster: lines in, lines out. Which node `leader` or `majority` means is resolved when
the line runs, from the run's own seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

_FEWEST = {"bridge": 3}
"""Operations that need more than two servers."""


def _ids(sids: Sequence[int]) -> str:
    return ",".join(map(str, sorted(sids)))


@dataclass(frozen=True)
class Mix:
    """Relative weights of the nemesis' operations, and the time scale of its durations."""

    crash: int = 3
    crash_leader: int = 3
    crash_for: int = 2
    restart: int = 2
    pause: int = 2
    pause_leader: int = 2
    resume: int = 2
    partition: int = 3
    isolate: int = 2
    block: int = 3
    loss: int = 2
    dup: int = 2
    delay: int = 2
    reorder: int = 2
    hold: int = 2
    release: int = 2
    drop_deliver: int = 1
    write: int = 4
    heal_one: int = 2
    heal: int = 1
    wait: int = 6
    wait_stable: int = 2
    timeout: int = 0
    """`timeout <sids>` fires notification timeouts early (simulator only)."""
    one_way: int = 0
    """A one-way partition: one group's messages to the other are cut, not the replies."""
    bridge: int = 0
    """Two halves that cannot talk but for one node in the middle that talks to both."""
    initial_states: float = 0.0
    """The probability that a script starts with `set` lines (different durable states)."""
    scale: float = 1.0
    """Multiplies every duration (the threaded runtime runs on the wall clock)."""

    def ops(self) -> list[tuple[str, int]]:
        return [(k, v) for k, v in vars(self).items() if isinstance(v, int) and v > 0]


MIXES: dict[str, Mix] = {
    # Everything at once.
    "default": Mix(),
    # Link faults only: the nodes stay up; messages are cut, lost, duplicated, delayed.
    "network": Mix(crash=0, crash_leader=0, crash_for=0, restart=0, pause=0, pause_leader=0,
                   resume=0, loss=4, dup=4, delay=4, reorder=4, hold=3, release=3, block=4),
    # Node faults only: crashes, restarts, pauses and writes; links stay perfect TCP.
    "node": Mix(partition=0, isolate=0, block=0, loss=0, dup=0, delay=0, reorder=0, hold=0,
                release=0, drop_deliver=0, heal_one=0, heal=0, crash=4, crash_leader=5,
                pause=3, pause_leader=3, restart=3),
    # Everything, plus notification timeouts fired early (simulator only).
    "timers": Mix(timeout=4),
    # Everything, from different durable epochs and zxids (`set` before `start`).
    "history": Mix(initial_states=1.0),
    # zkfle explore: everything, one-way partitions and bridges too, from varied histories.
    "explore": Mix(one_way=2, bridge=2, initial_states=0.3),
}  # fmt: skip


class Nemesis:
    """Generates a random script of faults and writes for a topology (pure: rng in, lines out)."""

    def __init__(self, sids: Sequence[int], rng: random.Random, mix: Mix) -> None:
        self.sids = list(sids)
        self.rng = rng
        self.mix = mix
        self.faults = 0
        """Link-fault commands issued so far (their ids are f1, f2, ... if they succeed)."""
        # A bridge needs two halves and a node between them; a one-way cut, two groups.
        ops = [(o, w) for o, w in mix.ops() if len(self.sids) >= _FEWEST.get(o, 2)]
        self._names = [o for o, _ in ops]
        self._weights = [w for _, w in ops]

    def dur(self, lo_ms: float, hi_ms: float) -> str:
        ms = int(self.rng.uniform(lo_ms, hi_ms) * self.mix.scale)
        return f"{max(ms, 1)}ms"

    def sid(self) -> int:
        return self.rng.choice(self.sids)

    def some(self) -> str:
        k = self.rng.randint(1, max(1, len(self.sids) // 2))
        return ",".join(map(str, sorted(self.rng.sample(self.sids, k))))

    def other(self, a: int) -> int:
        return self.rng.choice([s for s in self.sids if s != a])

    def link(self) -> str:
        r = self.rng.random()
        if r < 0.2:
            return "*"
        a = self.sid()
        if r < 0.35:
            return f"{a}->*"
        if r < 0.5:
            return f"*->{a}"
        if r < 0.6:
            return "leader<->*"
        return f"{a}{self.rng.choice(['->', '<->'])}{self.other(a)}"

    def pct(self) -> str:
        return f"{self.rng.choice([10, 20, 30, 50, 70, 90, 100])}%"

    def for_opt(self) -> str:
        return f" for={self.dur(100, 3000)}" if self.rng.random() < 0.3 else ""

    def groups(self) -> str:
        sids = list(self.sids)
        self.rng.shuffle(sids)
        n = self.rng.choice([2, 2, 3])
        cuts = sorted(self.rng.sample(range(1, len(sids)), min(n - 1, len(sids) - 1)))
        parts = [sids[i:j] for i, j in zip([0, *cuts], [*cuts, len(sids)], strict=True)]
        return "|".join(",".join(map(str, sorted(p))) for p in parts)

    def bridge(self) -> str:
        """`A<->B` over every node but one, the bridge (Jepsen's nemesis of that name)."""
        sids = list(self.sids)
        self.rng.shuffle(sids)
        sids.pop()  # the bridge: every link of it stays up
        cut = self.rng.randint(1, len(sids) - 1)
        return f"{_ids(sids[:cut])}<->{_ids(sids[cut:])}"

    def fault(self, text: str) -> str:
        self.faults += 1
        return text + self.for_opt()

    def line(self) -> str:
        op = self.rng.choices(self._names, self._weights)[0]
        rng = self.rng
        match op:
            case "crash":
                return f"crash {self.some()}"
            case "crash_leader":
                return "crash leader"
            case "crash_for":
                return f"crash {rng.choice(['leader', str(self.sid())])} for={self.dur(100, 3000)}"
            case "restart":
                return f"restart {self.some()}"
            case "pause":
                return f"pause {self.some()}{self.for_opt()}"
            case "pause_leader":
                return f"pause leader for={self.dur(100, 3000)}"
            case "resume":
                return f"resume {rng.choice(['all', self.some()])}"
            case "partition":
                return self.fault(f"partition {self.groups()}")
            case "isolate":
                return self.fault(f"isolate {rng.choice(['leader', str(self.sid())])}")
            case "block":
                a = self.sid()
                return self.fault(f"block {a}->{self.other(a)}")
            case "loss" | "dup" | "reorder":
                return self.fault(f"{op} {self.link()} {self.pct()}")
            case "delay":
                return self.fault(
                    f"delay {self.link()} {self.dur(1, 400)} jitter={self.dur(0, 200)}"
                )
            case "hold":
                return self.fault(f"hold {self.link()}")
            case "release":
                return f"release {self.link()} {rng.choice(['all', 'next'])}"
            case "drop_deliver":
                return f"{rng.choice(['drop', 'deliver'])} {self.link()}"
            case "write":
                return f"write {rng.randint(1, 3)}"
            case "heal_one":
                return f"heal f{rng.randint(1, self.faults)}" if self.faults else "heal"
            case "heal":
                return "heal"
            case "wait":
                return f"wait {self.dur(20, 2500)}"
            case "wait_stable":
                return f"wait until stable within {self.dur(2000, 8000)}"
            case "timeout":
                return f"timeout {self.some()}"
            case "one_way":
                sids = list(self.sids)
                rng.shuffle(sids)
                cut = rng.randint(1, len(sids) - 1)
                return self.fault(f"block {_ids(sids[:cut])}->{_ids(sids[cut:])}")
            case "bridge":
                return self.fault(f"block {self.bridge()}")
        raise AssertionError(op)

    def initial_states(self) -> list[str]:
        """`set` lines giving the stopped nodes different durable epochs and zxids (as a
        history of earlier epochs would: the zxid's epoch is at most currentEpoch)."""
        lines = []
        for sid in self.sids:
            epoch = self.rng.randint(0, 3)
            zepoch = self.rng.randint(0, epoch)
            counter = self.rng.randint(0, 4) if zepoch else 0
            lines.append(f"set {sid} epoch={epoch} zxid={(zepoch << 32) | counter:#x}")
        return lines

    def script(self, steps: int) -> list[str]:
        """Sometimes `set` lines, then `start`, usually a settle wait (and writes), then
        `steps` random lines."""
        lines = self.initial_states() if self.rng.random() < self.mix.initial_states else []
        lines.append("start")
        if self.rng.random() < 0.8:
            lines.append(f"wait until stable within {self.dur(8000, 8000)}")
            if self.rng.random() < 0.5:
                lines.append(f"write {self.rng.randint(1, 3)}")
        lines += [self.line() for _ in range(steps)]
        return lines
