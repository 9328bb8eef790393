"""Reduce a recorded `--runtime zookeeper` trace to one server's evidence, as a test fixture.

    python -m tests.data.zkruns.reduce RUN.jsonl SID OUT.jsonl

Keeps the header and the server's real-server events except the verbatim `log` lines
(`recv`, `sent`, `election`, `fle_timeout`, `peer_state`, `took`, `zk`), renumbered, and a
footer. `zkfle check` models each server apart, so its verdict on that server is the same.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

KINDS = frozenset({"recv", "sent", "election", "fle_timeout", "peer_state", "took", "zk"})


def reduce(source: Path, sid: int, target: Path) -> int:
    """Write the reduced trace; the number of events kept."""
    lines = source.read_bytes().splitlines()
    last = orjson.loads(lines[-1])
    kept = []
    for line in lines[1:]:
        event = orjson.loads(line)
        if event.get("node") == sid and event.get("kind") in KINDS:
            kept.append(event)
    for seq, event in enumerate(kept, 1):
        event["seq"] = seq
    footer = {"seq": len(kept) + 1, "t_ms": last["t_ms"], "kind": "footer"}
    footer |= {"events": len(kept), "end": last.get("end", "ok")}
    out = [lines[0], *(orjson.dumps(e) for e in [*kept, footer])]
    target.write_bytes(b"\n".join(out) + b"\n")
    return len(kept)


if __name__ == "__main__":
    source, sid, target = sys.argv[1:4]
    print(reduce(Path(source), int(sid), Path(target)))
