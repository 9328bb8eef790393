"""Floor 2, the trace as data: the JSON Lines format and its reader and writer (plain,
gzip or Zstandard), the JSON forms of the core's values, the recorder, the invariants, and
what a trace's events mean (elections and outages, who is down or paused, real servers'
evidence, ZooKeeper's own log lines), and why each outage lasted as long as it did (`explain`).

Imports the core only.
"""

__all__ = [
    "compressed",
    "elections",
    "evidence",
    "explain",
    "format",
    "invariants",
    "lives",
    "record",
    "recorder",
    "zklog",
]
