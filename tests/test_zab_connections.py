"""A learner<->leader connection is a TCP stream of its own: what was written to it never
reaches a later connection between the same two servers.

Regression (found by the chaos seed below, `--mix history --steps 20`): loss on n7->n2 made
the stream retransmit, so PINGs and an UPTODATE n7 wrote to n2 were still on their way when
n2's read timed out and it went LOOKING. n2 followed n7 again on a new connection, and the
old packets arrived on it: the stale UPTODATE came before LEADERINFO, so n2 synced with
`new_epoch` -1 and reported currentVote.peerEpoch -1 (what ZOOKEEPER-1732's
updateElectionVote exists to prevent). Host matched packets to connections by the two
nodes' lives only; each accepted connection now has a number, and packets carry it.
"""

from __future__ import annotations

from pathlib import Path

from tests.chaos import MIXES, TOPOLOGIES, chaos_script, run_script

SEED = 50794138


def test_packets_of_a_closed_connection_never_reach_the_next_one(tmp_path: Path) -> None:
    topology = TOPOLOGIES["seven"]
    script = chaos_script(topology, SEED, MIXES["history"], 20)
    result = run_script(topology, SEED, script, workdir=tmp_path, verify_replay=True)
    assert result.ok, result.report()
