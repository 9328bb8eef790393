"""Trace exports: a Mermaid sequence diagram, a ShiViz log, or one grep-able line per event.

Every exporter streams: it reads the trace once and yields output lines, so a seq range of
a huge file costs no more memory than a small one.

- mermaid: a `sequenceDiagram` as ZooKeeper walk-throughs draw elections: one lane per
  server, one arrow per notification a node took in (a `step` whose input is `receive`,
  labelled with the vote it carried), a cross for each dropped message, notes for state
  changes, an established epoch, crashes and restarts, and commands/faults/marks/
  violations spanning all lanes. A node's own loopback notifications are left out.
- shiviz: a log for ShiViz (https://bestchai.bitbucket.io/shiviz/): line 1 is the parser
  regex, line 2 the (empty) execution delimiter, then two lines per event: its text, then
  `host {vector clock}`. Hosts are `n<sid>`, plus `console` for commands and faults.
  Clocks follow happened-before within the exported range: a message's clock travels from
  its `send`/`zsend` to its `deliver`/`zdeliver` (or the `receive` step) by message id.
- text: `seq t_ms node kind details`, node `-` for cluster-wide events.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TextIO

import orjson

from engine.trace.format import Trace, read_trace

FORMATS = ("mermaid", "shiviz", "text")

SHIVIZ_REGEX = r"(?<event>.*)\n(?<host>\S*) (?<clock>{.*})"
"""ShiViz's default parser regex, which the exported log matches."""

SHIVIZ_SKIP = frozenset({"snapshot", "footer"})
"""Kinds left out of ShiViz logs (bulky, and not part of any process's history)."""

Event = Mapping[str, Any]


def export_lines(
    trace: Trace, fmt: str, *, from_seq: int = 1, to_seq: int | None = None
) -> Iterator[str]:
    """The lines (without newlines) of `trace` in format `fmt`, limited to a seq range."""
    exporters: dict[str, Callable[[Trace, int, int | None], Iterator[str]]] = {
        "mermaid": mermaid,
        "shiviz": shiviz,
        "text": text,
    }
    exporter = exporters.get(fmt)
    if exporter is None:
        raise ValueError(f"unknown export format {fmt!r} (expected one of {', '.join(FORMATS)})")
    return exporter(trace, from_seq, to_seq)


def export(
    path: str | os.PathLike[str],
    fmt: str,
    out: TextIO,
    *,
    from_seq: int = 1,
    to_seq: int | None = None,
) -> int:
    """Export a trace file to `out`; returns the number of lines written."""
    n = 0
    for line in export_lines(read_trace(path), fmt, from_seq=from_seq, to_seq=to_seq):
        out.write(line + "\n")
        n += 1
    return n


# --- text ---------------------------------------------------------------------------------------


def text(trace: Trace, from_seq: int = 1, to_seq: int | None = None) -> Iterator[str]:
    """`seq t_ms node kind details`, one line per event."""
    for event in trace.events(from_seq, to_seq):
        node = event.get("node")
        where = f"n{node}" if node is not None else "-"
        yield f"{event['seq']} {float(event['t_ms']):.3f} {where} {event['kind']} {describe(event)}"


def describe(event: Event) -> str:
    """A one-line human summary of an event's fields (without seq, time, node, kind)."""
    describer = _DESCRIBERS.get(str(event.get("kind")))
    if describer is not None:
        try:
            return describer(event)
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # an odd but readable event: fall back to its raw fields
    rest = {k: v for k, v in event.items() if k not in ("seq", "t_ms", "kind", "node")}
    return orjson.dumps(rest).decode()


def _vote(v: Mapping[str, Any]) -> str:
    return (
        f"leader={v['leader']} zxid={v['zxid']} round={v['election_epoch']} epoch={v['peer_epoch']}"
    )


def _notification(n: Mapping[str, Any]) -> str:
    return f"{n['state']} {_vote(n)}"


def _packet(p: Mapping[str, Any]) -> str:
    parts = [str(p["type"])]
    if "epoch" in p:
        parts.append(f"epoch={p['epoch']}")
    if "zxid" in p:
        parts.append(f"zxid={p['zxid']}")
    return " ".join(parts)


def _durable(d: Mapping[str, Any]) -> str:
    return (
        f"current_epoch={d['current_epoch']} accepted_epoch={d['accepted_epoch']} "
        f"last_zxid={d['last_zxid']}"
    )


def _sids(sids: Any) -> str:
    return ",".join(f"n{s}" for s in sids)


def _input(i: Mapping[str, Any], msg: Any) -> str:
    kind = i["type"]
    if kind == "receive":
        n = i["n"]
        via = f" {msg}" if msg else ""
        return f"receive{via} from n{n['sid']}: {_notification(n)}"
    if kind == "timeout":
        return f"timeout have_delivered={str(i['have_delivered']).lower()}"
    if kind in ("learner_connected", "learner_connect_failed"):
        return f"{kind} n{i['leader']}"
    if kind == "packet":
        return f"packet from n{i['from']}: {_packet(i['packet'])}"
    if kind == "disconnected":
        return f"disconnected n{i['peer']}"
    if kind == "write":
        return f"write {i['count']}"
    if kind == "zab":
        mode = f" {i['sync_mode']}" if "sync_mode" in i else ""
        ended = f" ended: {i['ended']}" if "ended" in i else ""
        return f"zab n{i['leader']}: {i['zab']}{mode} {i['last_zxid']}{ended}"
    return str(kind)


def _output(o: Mapping[str, Any]) -> str:
    parts = [f"-> {o['state']}"]
    if "decided" in o:
        parts.append(f"decided {_vote(o['decided'])}")
    for s in o.get("sends", ()):
        parts.append(f"notify {_sids(s['to'])} {s['state']} {_vote(s)}")
    for z in o.get("zab", ()):
        if "send" in z:
            parts.append(f"packet n{z['send']} {_packet(z['packet'])}")
        elif "connect" in z:
            parts.append(f"connect n{z['connect']}")
        elif "close" in z:
            parts.append(f"close n{z['close']}")
    if o.get("connect_all"):
        parts.append("connect_all")
    if "persist" in o:
        parts.append(f"persist {_durable(o['persist'])}")
    if "committed" in o:
        parts.append(f"committed {','.join(o['committed'])}")
    if "wait_ms" in o:
        parts.append(f"wait={o['wait_ms']:g}ms")
    if "election_delay_max_ms" in o:
        parts.append(f"look_for_leader_within={o['election_delay_max_ms']}ms")
    if o.get("restart_election"):
        parts.append("restart_election")
    if "reason" in o:
        parts.append(f"reason={o['reason']!r}")
    if "write_error" in o:
        parts.append(f"write_error={o['write_error']!r}")
    return " ".join(parts)


def _state(e: Event) -> str:
    parts = [str(e["state"])]
    if "zab" in e:
        parts.append(f"zab={e['zab']}")
    if "logicalclock" in e:
        parts.append(f"round={e['logicalclock']}")
    if "proposal" in e:
        p = e["proposal"]
        parts.append(f"proposal=({p['leader']},{p['zxid']},{p['peer_epoch']})")
    if "vote" in e:
        parts.append(f"vote=({_vote(e['vote'])})")
    for key in ("current_epoch", "accepted_epoch", "last_zxid"):
        if key in e:
            parts.append(f"{key}={e[key]}")
    for key in ("recvset", "outofelection"):
        if key in e:
            votes = e[key]
            listed = " ".join(f"n{s}:{votes[s]['leader']}" for s in sorted(votes, key=int))
            parts.append(f"{key}=[{listed}]")
    return " ".join(parts)


def _drop(e: Event) -> str:
    parts = [str(e.get("msg", "?"))]
    if "from" in e and "to" in e:
        parts.append(f"n{e['from']}->n{e['to']}")
    parts.append(str(e["reason"]))
    if "fault" in e:
        parts.append(f"fault={e['fault']}")
    if "detail" in e:
        parts.append(f"detail={e['detail']!r}")
    return " ".join(parts)


def _cmd(e: Event) -> str:
    outcome = (
        f"ok {e.get('result', '')}".rstrip() if e["ok"] else f"error {e.get('error', '')}".rstrip()
    )
    return f"{e['text']!r} {outcome}"


def _fault(e: Event) -> str:
    where = ""
    if "links" in e:
        where = " links=" + ",".join(f"{a}->{b}" for a, b in e["links"])
    elif "nodes" in e:
        where = " nodes=" + _sids(e["nodes"])
    return f"{e['id']} {e['op']} {e['text']!r}{where}"


def _snapshot(e: Event) -> str:
    nodes = " ".join(
        f"n{n['sid']}:{n.get('state') or 'down'}" + ("(paused)" if n.get("paused") else "")
        for n in e["nodes"]
    )
    leader = e.get("leader")
    head = f"stable leader=n{leader}" if e["stable"] and leader is not None else "unstable"
    return f"{head} {nodes}"


_DESCRIBERS: dict[str, Callable[[Event], str]] = {
    "boot": lambda e: _durable(e["durable"]),
    "stop": lambda e: str(e["reason"]),
    "pause": lambda e: "paused",
    "resume": lambda e: "resumed",
    "step": lambda e: f"{_input(e['input'], e.get('msg'))} {_output(e['output'])}",
    "send": lambda e: f"{e['msg']} -> n{e['to']}",
    "zsend": lambda e: f"{e['msg']} -> n{e['to']} {_packet(e['packet'])}",
    "deliver": lambda e: f"{e['msg']} <- n{e['from']}",
    "zdeliver": lambda e: f"{e['msg']} <- n{e['from']}",
    "drop": _drop,
    "state": _state,
    "cmd": _cmd,
    "fault": _fault,
    "heal": lambda e: ",".join(str(i) for i in e["ids"]),
    "conn": lambda e: f"{'up' if e['up'] else 'down'} n{e['peer']} {e.get('plane', '')}".rstrip(),
    "mark": lambda e: repr(str(e["label"])),
    "snapshot": _snapshot,
    "invariant": lambda e: (
        f"{e['name']} {'ok' if e['ok'] else 'VIOLATED'} {e.get('detail') or ''}".rstrip()
    ),
    "break": lambda e: f"{e['id']} hit at seq {e['at']}: {e['text']} {e.get('why', '')}".rstrip(),
    "footer": lambda e: f"events={e['events']} end={e['end']}",
    # a real server's evidence (trace 1.1): what it logged, at its own time
    "recv": lambda e: f"<- n{e['n']['sid']} {_logged_vote(e['n'])} (my state {e['my_state']})",
    "sent": lambda e: f"-> n{e['to']} {_logged_vote(e['n'])}",
    "log": lambda e: str(e["text"]),
}


def _logged_vote(n: Mapping[str, Any]) -> str:
    """A vote as a server logged it: only the fields its version prints."""
    parts = [str(n.get("state", "LOOKING"))]
    names = (("leader", "leader"), ("zxid", "zxid"), ("election_epoch", "round"))
    parts += [f"{label}={n[key]}" for key, label in (*names, ("peer_epoch", "epoch")) if key in n]
    return " ".join(parts)


# --- mermaid ------------------------------------------------------------------------------------


def mermaid(trace: Trace, from_seq: int = 1, to_seq: int | None = None) -> Iterator[str]:
    """A Mermaid `sequenceDiagram` of the elections in a seq range."""
    sids = sorted(int(s["sid"]) for s in trace.header["cluster"]["servers"])
    yield "sequenceDiagram"
    for sid in sids:
        yield f"    participant n{sid}"
    span = f"n{sids[0]},n{sids[-1]}" if len(sids) > 1 else f"n{sids[0]}" if sids else ""
    states: dict[int, tuple[str, str]] = {}
    # Read from the start even for a range: a state note needs the state before it.
    for event in trace.events(1, to_seq):
        lines = _mermaid_event(event, states, span)
        if event["seq"] >= from_seq:
            yield from lines


def _mermaid_event(event: Event, states: dict[int, tuple[str, str]], span: str) -> list[str]:
    kind = event["kind"]
    node: Any = event.get("node")
    if kind == "step" and event["input"].get("type") == "receive":
        n = event["input"]["n"]
        if n["sid"] == node:
            return []  # loopback: our own vote
        return [f"    n{n['sid']}->>n{node}: {_md(_notification(n))}"]
    if kind == "recv" and isinstance(event.get("n"), Mapping):
        sender = event["n"].get("sid")
        if sender == node:
            return []  # loopback: the server's own vote
        return [f"    n{sender}->>n{node}: {_md(_logged_vote(event['n']))}"]
    if kind == "peer_state":
        before = states.get(node, ("LOOKING", "ELECTION"))
        now = (str(event["state"]), before[1])
        states[node] = now
        return [f"    Note over n{node}: {now[0]}"] if now[0] != before[0] else []
    if kind == "state":
        before = states.get(node, ("LOOKING", "ELECTION"))
        now = (str(event["state"]), str(event.get("zab", before[1])))
        states[node] = now
        out = []
        if now[0] != before[0]:
            out.append(f"    Note over n{node}: {now[0]} (round {event.get('logicalclock', '?')})")
        if now[1] == "BROADCAST" and before[1] != "BROADCAST":
            role = "leader" if now[0] == "LEADING" else "synced with the leader"
            epoch = event.get("current_epoch", "?")
            out.append(f"    Note over n{node}: {role}, epoch {epoch} established")
        return out
    if kind == "boot":
        states[node] = ("LOOKING", "ELECTION")
        return [f"    Note over n{node}: boot {_md(_durable(event['durable']))}"]
    if kind == "stop":
        states.pop(node, None)
        return [f"    Note over n{node}: {_md(str(event['reason']))}"]
    if kind in ("pause", "resume"):
        return [f"    Note over n{node}: {'paused' if kind == 'pause' else 'resumed'}"]
    if kind == "drop" and "from" in event and "to" in event and event["from"] != event["to"]:
        return [f"    n{event['from']}-xn{event['to']}: {_md(_drop(event))}"]
    if not span:
        return []
    label = {
        "cmd": lambda: f"cmd {_cmd(event)}",
        "fault": lambda: f"fault {_fault(event)}",
        "heal": lambda: f"heal {describe(event)}",
        "mark": lambda: f"mark {describe(event)}",
        "invariant": lambda: f"VIOLATED {event['name']}: {event.get('detail', '')}",
    }.get(kind)
    if label is None or (kind == "invariant" and event.get("ok")):
        return []
    return [f"    Note over {span}: {_md(label())}"]


def _md(text: str) -> str:
    """Message text Mermaid will not misparse: one line, no `;`, `#`, `<`, `>`."""
    return " ".join(text.translate(_MERMAID_ESCAPES).split())


_MERMAID_ESCAPES = {ord(c): f"#{ord(c)};" for c in "#;<>"}  # Mermaid's entity codes


# --- shiviz -------------------------------------------------------------------------------------


def shiviz(trace: Trace, from_seq: int = 1, to_seq: int | None = None) -> Iterator[str]:
    """A ShiViz log: regex line, empty delimiter line, then `text` / `host clock` pairs."""
    yield SHIVIZ_REGEX
    yield ""
    clocks: dict[str, dict[str, int]] = {}
    in_flight: dict[str, dict[str, int]] = {}  # msg id -> clock of its send
    for event in trace.events(from_seq, to_seq):
        kind = event["kind"]
        if kind in SHIVIZ_SKIP:
            continue
        node = event.get("node")
        host = f"n{node}" if node is not None else "console"
        clock = clocks.setdefault(host, {})
        msg = event.get("msg")
        received = None
        if kind in ("deliver", "zdeliver", "drop") or (
            kind == "step" and event["input"].get("type") == "receive"
        ):
            received = in_flight.pop(msg, None) if isinstance(msg, str) else None
        if received:
            for other, tick in received.items():
                if clock.get(other, 0) < tick:
                    clock[other] = tick
        clock[host] = clock.get(host, 0) + 1
        if kind in ("send", "zsend") and isinstance(msg, str):
            in_flight[msg] = dict(clock)
        yield f"{event['seq']} {float(event['t_ms']):.3f} {kind} {describe(event)}"
        yield f"{host} {orjson.dumps(clock, option=orjson.OPT_SORT_KEYS).decode()}"
