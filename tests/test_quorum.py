"""Quorum servers, verifiers, SyncedLearnerTracker and config text (reference §6).

Expected config texts marked "ZooKeeper 3.8.0" were printed by the real ZooKeeper 3.8.0
jar on OpenJDK 17 for the same input (see test_config.py::test_matches_real_zookeeper).
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.quorum.error import ConfigError
from engine.core.quorum.hierarchical import QuorumHierarchical
from engine.core.quorum.majority import QuorumMaj
from engine.core.quorum.order import hashmap_order, properties_order
from engine.core.quorum.parse import parse_dynamic_config
from engine.core.quorum.properties import load_properties
from engine.core.quorum.server import QuorumServer
from engine.core.quorum.verifier import SyncedLearnerTracker
from engine.core.vote import LearnerType

P, OBS = LearnerType.PARTICIPANT, LearnerType.OBSERVER
IPV4 = "127.0.0.1:1234:1236"


def server(sid: int, learner_type: LearnerType = P) -> QuorumServer:
    return QuorumServer(
        sid, (("127.0.0.1", 2000 + sid),), (("127.0.0.1", 3000 + sid),), learner_type
    )


def maj(voters: int, observers: int = 0) -> QuorumMaj:
    n = voters + observers
    return QuorumMaj([server(s, P if s <= voters else OBS) for s in range(1, n + 1)])


def config_text(sids: list[int]) -> str:
    return "".join(f"server.{s}=127.0.0.1:{1000 + s}:{2000 + s}\n" for s in sids) + "version=0"


def sid_order(text: str) -> list[int]:
    return [int(line.split("=")[0][7:]) for line in text.splitlines() if line.startswith("server.")]


# --- QuorumServerTest ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provided", "expected"),
    [
        (IPV4 + ":participant;0.0.0.0:1237", IPV4 + ":participant;0.0.0.0:1237"),  # IP address
        (IPV4 + ";0.0.0.0:1237", IPV4 + ":participant;0.0.0.0:1237"),  # type unspecified
        (IPV4 + ":observer;0.0.0.0:1237", IPV4 + ":observer;0.0.0.0:1237"),
        (IPV4 + ":participant;1237", IPV4 + ":participant;0.0.0.0:1237"),  # no client host
        (IPV4 + ":participant;1.2.3.4:1237", IPV4 + ":participant;1.2.3.4:1237"),
        (
            "example.com:1234:1236:participant;1237",
            "example.com:1234:1236:participant;0.0.0.0:1237",
        ),
    ],
)
def test_QuorumServerTest_testToString(provided: str, expected: str) -> None:
    assert QuorumServer.parse(0, provided).to_string() == expected


def test_QuorumServerTest_ipv6_literals_are_printed_the_Java_way() -> None:
    # constructionUnderstandsIpv6LiteralsInServerConfig / ...InClientConfig
    qs = QuorumServer.parse(0, "[::1]:1234:1236:participant")
    assert qs.to_string() == "[0:0:0:0:0:0:0:1]:1234:1236:participant"
    assert qs.addr == (("0:0:0:0:0:0:0:1", 1234),)
    qs = QuorumServer.parse(0, IPV4 + ":participant;[::1]:1237")
    assert qs.to_string() == IPV4 + ":participant;[0:0:0:0:0:0:0:1]:1237"


@pytest.mark.parametrize(
    "text", ["[::1:1234:1236:participant", IPV4 + ":participant;[::1:1237", IPV4 + ";[::1]:"]
)
def test_QuorumServerTest_unbalanced_ipv6_literals_fail_to_be_parsed(text: str) -> None:
    with pytest.raises(ConfigError, match=r"server\.0: "):
        QuorumServer.parse(0, text)


def test_QuorumServerTest_multiple_addresses_need_the_feature() -> None:
    text = "127.0.0.1:1234:1236|127.0.0.1:2234:2236"
    with pytest.raises(ConfigError, match="multi-address feature is disabled"):
        QuorumServer.parse(0, text)
    qs = QuorumServer.parse(0, text, multi_address=True)
    assert qs.to_string() == "127.0.0.1:1234:1236|127.0.0.1:2234:2236:participant"
    assert qs.election_addr == (("127.0.0.1", 1236), ("127.0.0.1", 2236))
    qs = QuorumServer.parse(0, "b:1:2|a:3:4:observer;1237", multi_address=True)
    assert qs.to_string() == "a:3:4|b:1:2:observer;0.0.0.0:1237"  # sorted by host


def test_QuorumServerTest_client_addresses_in_3_8() -> None:
    # testClientAddrAndSecureClientAddr, minus the secure client port 3.8/3.9 do not have.
    assert QuorumServer.parse(0, "example.com:1234:1236:participant;1237;").client_addr == (
        "0.0.0.0",
        1237,
    )
    assert QuorumServer.parse(0, "example.com:1234:1236:participant;;").client_addr is None
    assert QuorumServer.parse(0, "example.com:1234:1236:participant").client_addr is None
    with pytest.raises(ConfigError, match='more than one ";"'):
        QuorumServer.parse(0, "example.com:1234:1236:participant;1237;1238")


@pytest.mark.parametrize(
    ("provided", "expected"),
    [  # what ZooKeeper 3.8.0 prints (InetSocketAddress.getHostString)
        ("127.1:1:2", "127.0.0.1:1:2:participant"),
        ("0127.0.0.1:1:2", "127.0.0.1:1:2:participant"),
        ("12345:1:2", "0.0.48.57:1:2:participant"),
        ("4294967296:1:2", "4294967296:1:2:participant"),  # not a literal: a host name
        ("1.2.3.256:1:2", "1.2.3.256:1:2:participant"),
        ("[2001:DB8::A]:1:2", "[2001:db8:0:0:0:0:0:a]:1:2:participant"),
        ("[::ffff:1.2.3.4]:1:2", "1.2.3.4:1:2:participant"),
        ("[::1.2.3.4]:1:2", "[0:0:0:0:0:0:102:304]:1:2:participant"),
        ("[fe80::1%02]:1:2", "[fe80:0:0:0:0:0:0:1%2]:1:2:participant"),
        ("[zz:1]:1:2", "[zz:1]:1:2:participant"),
        ("[nothex]:1:2", "nothex:1:2:participant"),
        ("[]:1:2", "localhost:1:2:participant"),
        (":1:2", "localhost:1:2:participant"),
        ("[::1]x1:2", "[0:0:0:0:0:0:0:1]:1:2:participant"),  # Java skips the char after ]
        ("Example.COM:+1:02:OBSERVER ", "Example.COM:1:2:observer"),
        ("h:1:2:", "h:1:2:participant"),
        ("h:1:2|", "h:1:2:participant"),
    ],
)
def test_QuorumServer_hosts_and_numbers_as_Java_reads_them(provided: str, expected: str) -> None:
    assert QuorumServer.parse(0, provided).to_string() == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("127.0.0.1:2888", 'election port missing in "127.0.0.1:2888"'),
        ("127.0.0.1", "quorum and election ports missing"),
        ("h:1:1", "quorum and election port must differ"),
        ("h:5:70000", "election port 70000 is out of range"),
        ("h:-5:6", "quorum port -5 is out of range"),
        ("h::2", 'quorum port "" is not a number'),
        ("h:1:2 ", 'election port "2 " is not a number'),  # ZooKeeper does not trim
        ("h:1:2:leader", 'unrecognised peer type "leader"'),
        ("h:1:2:participant:x", 'too many ":"-separated fields'),
        ("::1:1234:1236", 'too many ":"-separated fields'),
        ("h:1:2;h2:", 'client port "h2" is not a number'),
        ("h:1:2;a:b:c", 'client address "a:b:c" is not [host:]port'),
        (";1", 'quorum and election ports missing in ""'),
        (";;", "has no address"),
    ],
)
def test_QuorumServer_rejects_bad_server_lines(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        QuorumServer.parse(3, text)
    assert info.value.key == "server.3"
    assert message in str(info.value)


def test_QuorumServer_mixed_roles_of_one_server_are_rejected() -> None:
    with pytest.raises(ConfigError, match="disagree on participant/observer"):
        QuorumServer.parse(1, "a:1:2:participant|b:3:4:observer", multi_address=True)


def test_QuorumServer_equals_is_ZooKeepers() -> None:
    a = QuorumServer.parse(1, "a:1:2|b:3:4;9", multi_address=True)
    b = QuorumServer.parse(1, "B:3:4|a:1:2;0.0.0.0:9", multi_address=True)
    assert a.equals(b)  # address sets; client address compared, from_static is not
    assert a != b  # structural == also sees the order and spelling
    assert not a.equals(QuorumServer.parse(1, "a:1:2|b:3:4", multi_address=True))
    assert not a.equals(QuorumServer.parse(1, "a:1:2|b:3:4:observer;9", multi_address=True))


# --- QuorumMaj -----------------------------------------------------------------------------------


def test_QuorumMajorityTest_testMajQuorums() -> None:
    p = SyncedLearnerTracker()  # ZK: Leader.Proposal extends SyncedLearnerTracker
    p.add_quorum_verifier(maj(5))
    p.add_ack(1)
    p.add_ack(2)
    assert not p.has_all_quorums()  # 2 followers out of 5 are not a majority
    assert not p.add_ack(6)  # 6 is not in the view: its vote does not count
    assert not p.has_all_quorums()
    p.add_ack(3)
    assert p.has_all_quorums()

    p = SyncedLearnerTracker()
    p.add_quorum_verifier(maj(3, 2))
    p.add_ack(1)
    assert not p.has_all_quorums()
    p.add_ack(4)  # observers do not count
    p.add_ack(5)
    assert not p.has_all_quorums()
    p.add_ack(6)
    assert not p.has_all_quorums()
    p.add_ack(2)
    assert p.has_all_quorums()
    ((_, acks),) = p.ack_sets
    assert acks == {1, 2}


def test_SyncedLearnerTracker_needs_a_quorum_in_every_verifier() -> None:
    # During a reconfiguration FLE tracks the committed and the proposed config at once.
    committed = QuorumMaj([server(1), server(2), server(3), server(4, OBS)], version=1)
    proposed = QuorumMaj([server(3), server(4), server(5)], version=2)
    tracker = SyncedLearnerTracker()
    assert tracker.has_all_quorums()  # vacuously, as in Java
    assert tracker.has_sid(42)
    tracker.add_quorum_verifier(committed)
    tracker.add_quorum_verifier(proposed)
    assert tracker.has_sid(3)
    assert not tracker.has_sid(1)  # not a voter in the proposed config
    assert not tracker.has_sid(4)  # an observer in the committed one
    assert tracker.add_ack(1)
    assert tracker.add_ack(2)
    assert not tracker.has_all_quorums()  # committed yes, proposed no
    assert tracker.add_ack(4)  # counts in the proposed config only
    assert not tracker.has_all_quorums()
    assert not tracker.add_ack(6)
    tracker.add_ack(5)
    assert tracker.has_all_quorums()
    assert [set(acks) for _, acks in tracker.ack_sets] == [{1, 2}, {4, 5}]
    assert repr(tracker) == "SyncedLearnerTracker([1, 2], [4, 5])"


@pytest.mark.parametrize(("voters", "quorum"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (7, 4)])
def test_QuorumMaj_quorum_sizes(voters: int, quorum: int) -> None:
    qv = maj(voters, observers=2)
    assert qv.contains_quorum(set(range(1, quorum + 1)))
    assert not qv.contains_quorum(set(range(1, quorum)))
    assert qv.min_quorum_size() == quorum


def test_QuorumMaj_counts_the_set_as_given_and_weighs_everyone_1() -> None:
    qv = maj(3, 2)
    # Java trusts the caller (SyncedLearnerTracker) to pass voters only.
    assert qv.contains_quorum({4, 5})
    assert qv.contains_quorum([1, 1, 2])  # a collection is deduplicated like a Java Set
    assert not qv.contains_quorum([1, 1])
    assert qv.weight(1) == qv.weight(99) == 1
    assert list(qv.voting_members) == [1, 2, 3]
    assert list(qv.observing_members) == [4, 5]
    assert list(qv.all_members) == [1, 2, 3, 4, 5]


def test_QuorumMaj_equals_is_ZooKeepers() -> None:
    a = QuorumMaj([server(1), server(2), server(3)], version=1)
    assert a.equals(QuorumMaj([server(7)], version=1))  # same version: equal, whatever the members
    assert a.equals(QuorumMaj([server(3), server(2), server(1)], version=2))
    assert not a.equals(QuorumMaj([server(1), server(2)], version=2))
    assert not a.equals(QuorumMaj([server(1), server(2), server(3, OBS)], version=2))
    hier = QuorumHierarchical([server(1), server(2), server(3)], {1: [1, 2, 3]}, {}, version=1)
    assert not a.equals(hier)
    assert a == QuorumMaj([server(3), server(1), server(2)], version=1)  # structural
    assert a != QuorumMaj([server(1), server(2), server(3)], version=2)


# --- QuorumHierarchical --------------------------------------------------------------------------

ZERO_WEIGHT_CONFIG = (  # FLEZeroWeightTest.setUp, with the server lines QuorumPeer adds
    "".join(f"server.{s}=127.0.0.1:{2000 + s}:{3000 + s}\n" for s in range(9))
    + "group.1=0:1:2\ngroup.2=3:4:5\ngroup.3=6:7:8\n"
    + "".join(f"weight.{s}={1 if s < 3 else 0}\n" for s in range(9))
)


def test_FLEZeroWeightTest_config() -> None:
    qv = parse_dynamic_config(ZERO_WEIGHT_CONFIG)
    assert isinstance(qv, QuorumHierarchical)
    assert qv.num_groups == 1  # the two zero-weight groups do not count
    assert dict(qv.group_weight) == {1: 3, 2: 0, 3: 0}
    assert [qv.weight(s) for s in range(9)] == [1, 1, 1, 0, 0, 0, 0, 0, 0]
    assert qv.contains_quorum({0, 1})
    assert qv.contains_quorum({1, 2, 3})
    assert not qv.contains_quorum({2})
    assert not qv.contains_quorum({2, 3, 4, 5, 6, 7, 8})
    assert not qv.contains_quorum(set())
    # ZooKeeper 3.8.0 prints it in file order (no HashMap collisions here).
    servers = "".join(f"server.{s}=127.0.0.1:{2000 + s}:{3000 + s}:participant\n" for s in range(9))
    assert qv.to_string() == servers + ZERO_WEIGHT_CONFIG.split("\n", 9)[9] + "version=0"


def test_HierarchicalQuorumTest_config() -> None:
    text = "".join(f"server.{s}=127.0.0.1:{2000 + s}:{3000 + s}\n" for s in range(1, 6))
    text += "group.1=1:2:3\ngroup.2=4:5\nweight.1=1\nweight.2=1\nweight.3=1\nweight.4=0\nweight.5=0"
    qv = parse_dynamic_config(text)
    assert isinstance(qv, QuorumHierarchical)
    assert qv.num_groups == 1
    assert qv.contains_quorum({1, 2})
    assert not qv.contains_quorum({1, 4, 5})
    # ObserverHierarchicalQuorumTest: the same groups with 4 and 5 observers.
    observers = parse_dynamic_config(
        text.replace("3004", "3004:observer").replace("3005", "3005:observer")
    )
    assert list(observers.observing_members) == [4, 5]
    assert observers.contains_quorum({1, 3})
    assert observers.weight(4) == 0


def test_QuorumHierarchical_groups_must_have_more_than_half_their_weight() -> None:
    members = [server(s) for s in range(1, 9)]
    groups = {1: [1, 2, 3], 2: [4, 5], 3: [6], 4: [7, 8]}
    qv = QuorumHierarchical(members, groups, {4: 3, 5: 1, 7: 0, 8: 0})
    assert qv.num_groups == 3  # group 4 weighs nothing
    assert dict(qv.group_weight) == {1: 3, 2: 4, 3: 1, 4: 0}
    assert not qv.contains_quorum({1, 6})  # one group with a majority: 1 > 3/2 is false
    assert qv.contains_quorum({1, 2, 6})  # groups 1 and 3
    assert qv.contains_quorum({4, 6})  # 3 > 4/2 in group 2, and group 3
    assert not qv.contains_quorum({5, 6, 7, 8})  # 1 is not > 4/2; zero-weight groups never count
    assert qv.min_quorum_size() == 2  # {4, 6}: the heaviest of group 2, and group 3
    assert qv.weight(7) == 0
    with pytest.raises(KeyError):  # Java: NullPointerException for ids without a weight
        qv.weight(99)


@pytest.mark.parametrize(
    ("groups", "weights", "message", "key"),
    [
        ({1: [1, 2], 2: [2, 3]}, {}, "server 2 is in more than one group", "group.2"),
        ({1: [1, 2]}, {}, "participant 3 is not in a group", "server.3"),
        ({1: [1, 2, 3], 2: [4]}, {}, "server 4 has no weight", "group.2"),  # Java: NPE
        ({1: [1, 2, 3], 2: []}, {}, "a group needs at least one server", "group.2"),
    ],
)
def test_QuorumHierarchical_rejects_bad_groups(
    groups: dict[int, list[int]], weights: dict[int, int], message: str, key: str
) -> None:
    members = [server(1), server(2), server(3), server(4, OBS)]
    with pytest.raises(ConfigError, match=message) as info:
        QuorumHierarchical(members, groups, weights)
    assert info.value.key == key


def test_QuorumHierarchical_equals_is_ZooKeepers() -> None:
    members = [server(1), server(2), server(3)]
    a = QuorumHierarchical(members, {1: [1, 2, 3]}, {}, version=1)
    assert a.equals(QuorumHierarchical(members, {1: [1, 2], 2: [3]}, {}, version=1))
    assert not a.equals(QuorumHierarchical(members, {1: [1, 2], 2: [3]}, {}, version=2))
    assert not a.equals(QuorumHierarchical(members, {1: [1, 2, 3]}, {3: 2}, version=2))
    assert a.equals(QuorumHierarchical(members, {1: [3, 2, 1]}, {2: 1}, version=2))


# --- toString: the config text of every notification ----------------------------------------


def test_QuorumVerifier_toString_iterates_like_a_Java_HashMap() -> None:
    # ZooKeeper 3.8.0: sids 1, 17 and 33 share bucket 1 of 16; their order is the order
    # Java's Properties handed them over, whatever the order of the lines.
    for sids in ([1, 17, 33], [33, 17, 1], [17, 1, 33]):
        assert sid_order(parse_dynamic_config(config_text(sids)).to_string()) == [33, 1, 17]
    # Built in code, members go into the HashMap in the order given.
    assert sid_order(QuorumMaj([server(17), server(1), server(33)]).to_string()) == [17, 1, 33]
    assert sid_order(QuorumMaj([server(s) for s in (5, 3, 4, 1, 2)]).to_string()) == [1, 2, 3, 4, 5]


def test_QuorumVerifier_toString_of_51_colliding_servers() -> None:
    # ZooKeeper 3.8.0 for sids 1, 17, ..., 801: every sid starts in bucket 1, so the table
    # grows when a bucket reaches 9 entries (HashMap.treeifyBin) until it is 64 wide, and
    # then buckets become red-black trees whose roots are iterated first.
    sids = [16 * i + 1 for i in range(51)]
    text = "".join(f"server.{s}=127.0.0.1:{10000 + i}:{20000 + i}\n" for i, s in enumerate(sids))
    expected = [
        129, 641, 1, 769, 257, 513, 385, 401, 529, 17, 785, 273, 657, 145, 289, 801, 161,
        545, 417, 33, 673, 689, 561, 49, 177, 433, 305, 449, 193, 65, 321, 577, 705, 209,
        721, 337, 593, 81, 465, 609, 97, 225, 481, 737, 353, 369, 753, 241, 113, 497, 625,
    ]  # fmt: skip
    assert sid_order(parse_dynamic_config(text + "version=0").to_string()) == expected


def test_QuorumHierarchical_toString_matches_ZooKeeper() -> None:
    text = (
        "server.1=127.0.0.1:2001:3001\nserver.17=127.0.0.1:2017:3017\n"
        "server.33=127.0.0.1:2033:3033:observer\nserver.2=127.0.0.1:2002:3002\n"
        "server.18=127.0.0.1:2018:3018\ngroup.5=1:17:33\ngroup.21=2:18\n"
        "weight.33=2\nweight.1=3\nversion=100000000\n"
    )
    assert parse_dynamic_config(text).to_string() == (  # ZooKeeper 3.8.0
        "server.33=127.0.0.1:2033:3033:observer\n"
        "server.1=127.0.0.1:2001:3001:participant\n"
        "server.17=127.0.0.1:2017:3017:participant\n"
        "server.2=127.0.0.1:2002:3002:participant\n"
        "server.18=127.0.0.1:2018:3018:participant\n"
        "group.5=1:17:33\ngroup.21=2:18\n"
        "weight.33=2\nweight.1=3\nweight.17=1\nweight.2=1\nweight.18=1\n"
        "version=100000000"
    )


def test_QuorumVerifier_version_is_printed_as_Java_Long_toHexString() -> None:
    assert (
        parse_dynamic_config(config_text([1]).replace("=0", "=1A"))
        .to_string()
        .endswith("\nversion=1a")
    )
    qv = parse_dynamic_config(config_text([1]).replace("=0", "=-1"))
    assert qv.version == -1
    assert qv.to_string().endswith("\nversion=ffffffffffffffff")  # and Java cannot read it back
    with pytest.raises(ConfigError, match="not a hexadecimal long"):
        parse_dynamic_config(qv.to_string())


# --- parse_dynamic_config -----------------------------------------------------------------------


def test_parse_dynamic_config_reads_Java_Properties_syntax() -> None:
    text = (
        "# comment\n  ! another\n\n"
        "server.1 : 127.0.0.1:2001:3001\n"  # ':' separator, blanks around it
        "server.2\t127.0.0.1:2002\\\n    :3002\r\n"  # whitespace separator, continuation
        "server.3=127.0.0.1\\:2003:3003:\\u006Fbserver\r"  # escapes
        "version=a"
    )
    qv = parse_dynamic_config(text)
    assert list(qv.voting_members) == [1, 2]
    assert qv.all_members[2].addr == (("127.0.0.1", 2002),)
    assert qv.all_members[3].learner_type == OBS
    assert qv.version == 10
    assert [p.line for p in load_properties(text)] == [4, 5, 7, 8]


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        ("server.1=a:1:2\ntickTime=2000", 2, "tickTime", "unrecognised parameter"),
        ("server.x=a:1:2", 1, "server.x", "the id after the dot is not a number"),  # Java: NFE
        ("server.1=a:1:2\nserver.01=b:1:2", 2, "server.01", "server.1 is also defined on line 1"),
        ("server.1=a:1:2\nversion=0x10", 2, "version", '"0x10" is not a hexadecimal long'),
        ("server.1=a:1:2\nversion=10000000000000000", 2, "version", "not a hexadecimal long"),
        ("server.1=a:1:2\nserver.2=a:3", 2, "server.2", "election port missing"),
        ("server.1=a:1:2|b:3:4", 1, "server.1", "multi-address feature is disabled"),
        ("server.1=a:1:2\nserver.2=\\u12", 2, None, r"malformed \uxxxx escape"),
        ("server.1=a:1:2\ngroup.1=1:x", 2, "group.1", '"1:x" is not a list of sids'),
        ("server.1=a:1:2\ngroup.1=1\nweight.1=heavy", 3, "weight.1", '"heavy" is not a number'),
        ("server.1=a:1:2\nserver.2=b:1:2\ngroup.1=1", 2, "server.2", "participant 2 is not in"),
        ("server.1=a:1:2\ngroup=1", 2, "group", "the id after the dot is not a number"),
    ],
)
def test_parse_dynamic_config_rejects_with_line_and_key(
    text: str, line: int, key: str | None, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_dynamic_config(text)
    assert (info.value.line, info.value.key) == (line, key)
    assert message in str(info.value)
    assert str(info.value).startswith(f"line {line}: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version=1", "no participants"),  # ZooKeeper accepts an empty config
        ("server.1=a:1:2:observer", "no participants"),  # Java: IllegalArgumentException
        ("server.1=a:1:2\nserver.2=b:1:2:observer", "observers without a quorum"),
        ("", "no participants"),
    ],
)
def test_parse_dynamic_config_rejects_configs_without_a_quorum(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_dynamic_config(text)


def test_parse_dynamic_config_allows_one_participant_with_observers_when_not_standalone() -> None:
    qv = parse_dynamic_config("server.1=a:1:2\nserver.2=b:1:2:observer", standalone_enabled=False)
    assert list(qv.observing_members) == [2]


def test_parse_dynamic_config_is_cached_and_errors_are_fresh() -> None:
    text = config_text([1, 2, 3])
    assert parse_dynamic_config(text) is parse_dynamic_config(text)
    errors = []
    for _ in range(2):
        with pytest.raises(ConfigError) as info:
            parse_dynamic_config("server.1=a:1")
        errors.append(info.value)
    assert errors[0] is not errors[1]
    assert str(errors[0]) == str(errors[1]) == 'line 1: server.1: election port missing in "a:1"'


@settings(max_examples=150, deadline=None)
@given(
    voters=st.integers(1, 20),
    observers=st.integers(0, 5),
    version=st.integers(0, (1 << 63) - 1),
    hierarchical=st.booleans(),
)
def test_parse_dynamic_config_round_trips(
    voters: int, observers: int, version: int, hierarchical: bool
) -> None:
    members = [server(s, P if s <= voters else OBS) for s in range(1, voters + observers + 1)]
    qv = (
        QuorumHierarchical(members, {1: list(range(1, voters + 1))}, {1: 2}, version)
        if hierarchical
        else QuorumMaj(members, version)
    )
    text = qv.to_string()
    again = parse_dynamic_config(text, standalone_enabled=voters > 1)
    assert again == qv
    assert again.equals(qv)
    # Contiguous sids never share a HashMap bucket, so the text is a fixed point.
    assert again.to_string() == text
    assert parse_dynamic_config(again.to_string(), standalone_enabled=False).to_string() == text


def test_parse_dynamic_config_matches_ZooKeeper_where_ZooKeeper_is_not_a_fixed_point() -> None:
    # Sids 9 and 73 share bucket 9 of 16, and Java's Properties hands them over in another
    # order once the lines come in HashMap order: ZooKeeper 3.8.0 prints the re-parsed
    # text with 9 and 73 swapped, and so do we.
    first = parse_dynamic_config(config_text([1, 9, 11, 24, 39, 52, 60, 73, 74, 75, 98]))
    assert sid_order(first.to_string()) == [1, 98, 52, 39, 24, 73, 9, 74, 11, 75, 60]
    second = parse_dynamic_config(first.to_string())
    assert sid_order(second.to_string()) == [1, 98, 52, 39, 24, 9, 73, 74, 11, 75, 60]
    assert second == first


_CONFIG_WORDS = ["server.", "group.", "weight", "version", "\\u00", "participant", "observer"]
_CONFIG_ALPHABET = st.sampled_from(
    [*":;|[].=#!\\ \t\n\r-+0123456789abcfx%", *_CONFIG_WORDS, "::1", "127.0.0.1", "\\\n"]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.lists(_CONFIG_ALPHABET, max_size=40).map("".join)))
def test_parse_dynamic_config_never_raises_anything_but_ConfigError(text: str) -> None:
    with contextlib.suppress(ConfigError):
        assert parse_dynamic_config(text, multi_address=True).voting_members


# --- Java collections --------------------------------------------------------------------------


def test_hashmap_order_grows_and_keeps_insertion_order_in_a_bucket() -> None:
    assert hashmap_order([33, 1, 17, 1]) == [33, 1, 17]
    assert hashmap_order(range(12, -1, -1)) == list(range(13))  # 13 > 12: 32 buckets
    assert hashmap_order([16, 0]) == [16, 0]  # one bucket in a table of 16
    assert hashmap_order([16, 0, *range(1, 12)]) == [0, *range(1, 12), 16]  # 13 keys: 32
    assert hashmap_order([1 << 32, 0, 1]) == [0, 1 << 32, 1]  # Long.hashCode folds the halves


def test_properties_order_is_a_ConcurrentHashMap_of_Strings() -> None:
    # ZooKeeper 3.8.0 hands "server.1", "server.17", "server.33" over in this order.
    assert properties_order(["server.1", "server.17", "server.33"]) == [
        "server.33",
        "server.1",
        "server.17",
    ]
    keys = [f"k{i}" for i in range(40)]
    assert sorted(properties_order(keys)) == sorted(keys)
    assert properties_order(["a", "b", "a"]) == properties_order(["a", "b"])
