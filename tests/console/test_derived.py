"""A real server's fields that the shadow engine derives are marked as derived (≈) in the
ensemble table, never shown as if the server had said them."""

from __future__ import annotations

from console.widgets.ensemble import cells
from engine.core.view import NodeView
from engine.core.vote import ServerState, Vote


def test_derived_fields_carry_a_mark_and_the_others_do_not() -> None:
    vote = Vote(3, 0, 1, 0, ServerState.LOOKING)
    node = NodeView(
        1,
        "participant",
        alive=True,
        state=ServerState.LOOKING,
        logicalclock=1,
        proposal=Vote(3, 0, -1, 0),
        recvset=((2, vote), (3, vote)),
        derived=frozenset({"recvset", "logicalclock"}),
    )
    shown = cells(node, [])
    assert shown["recvset"].plain == "2≈"
    assert shown["lc"].plain == "1≈"
    assert "≈" not in shown["proposal"].plain
    assert (
        "≈"
        not in cells(NodeView(1, "participant", alive=True, recvset=node.recvset), [])[
            "recvset"
        ].plain
    )
