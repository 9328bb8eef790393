"""zoo.cfg and myid parsing, generated cluster configs (reference §8, QuorumPeerConfig)."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.config import (
    QuorumPeerConfig,
    generate_config,
    load_zoo_cfg,
    parse_zoo_cfg,
    to_zoo_cfg,
)
from engine.core.quorum.error import ConfigError
from engine.core.quorum.hierarchical import QuorumHierarchical
from engine.core.quorum.majority import QuorumMaj
from engine.core.quorum.parse import parse_dynamic_config
from engine.core.vote import LearnerType

P, OBS = LearnerType.PARTICIPANT, LearnerType.OBSERVER

THREE = """\
tickTime=2000
initLimit=10
syncLimit=5
server.1=127.0.0.1:2888:3888
server.2=127.0.0.1:2889:3889
# line 6
"""


def test_parse_zoo_cfg_reads_a_full_file() -> None:
    text = """\
# The number of milliseconds of each tick
tickTime=2000
initLimit=10
syncLimit=5
cnxTimeout=3000
electionAlg=3
dataDir=/var/lib/zookeeper
clientPort=2181
clientPortAddress=127.0.0.1
peerType=participant
standaloneEnabled=false
reconfigEnabled=false
multiAddress.enabled=true
quorumListenOnAllIPs=true
4lw.commands.whitelist=*
server.1=127.0.0.1:2888:3888
server.2=127.0.0.1:2889:3889|127.0.0.2:2889:3889
server.3=127.0.0.1:2890:3890:observer;2183
"""
    cfg = parse_zoo_cfg(text, "/etc/zookeeper/zoo.cfg", myid=1)
    assert (cfg.tick_time_ms, cfg.init_limit, cfg.sync_limit, cfg.cnx_timeout_ms) == (
        2000,
        10,
        5,
        3000,
    )
    assert (cfg.myid, cfg.peer_type, cfg.election_alg) == (1, P, 3)
    assert (cfg.data_dir, cfg.client_port, cfg.client_port_address) == (
        "/var/lib/zookeeper",
        2181,
        "127.0.0.1",
    )
    assert not cfg.standalone_enabled
    assert not cfg.reconfig_enabled
    assert cfg.multi_address_enabled
    assert cfg.quorum_listen_on_all_ips
    assert cfg.other == (("4lw.commands.whitelist", "*"),)
    assert cfg.is_distributed
    qv = cfg.quorum_verifier
    assert isinstance(qv, QuorumMaj)
    assert qv.version == 0
    assert list(qv.voting_members) == [1, 2]
    assert list(qv.observing_members) == [3]
    # ZK: setupClientPort - the static client port belongs to this server (myid 1).
    assert qv.all_members[1].client_addr == ("127.0.0.1", 2181)
    assert qv.all_members[1].is_client_addr_from_static
    assert qv.all_members[2].election_addr == (("127.0.0.1", 3889), ("127.0.0.2", 3889))
    assert qv.to_string() == (
        "server.1=127.0.0.1:2888:3888:participant\n"
        "server.2=127.0.0.1:2889:3889|127.0.0.2:2889:3889:participant\n"
        "server.3=127.0.0.1:2890:3890:observer;0.0.0.0:2183\n"
        "version=0"
    )
    assert cfg.warnings == (
        "/etc/zookeeper/zoo.cfg: No server failure will be tolerated. You need at least 3 servers.",
    )


def test_static_config_text_is_what_ZooKeeper_sends() -> None:
    # ZooKeeper 3.8.0 sends exactly this for a classic zoo.cfg: the static clientPort is
    # not part of the server lines, the version is 0, and there is no trailing newline.
    text = THREE + "server.3=127.0.0.1:2890:3890\ndataDir=/tmp/zk\nclientPort=2181\n"
    cfg = parse_zoo_cfg(text, myid=1)
    assert cfg.quorum_verifier.to_string() == (
        "server.1=127.0.0.1:2888:3888:participant\n"
        "server.2=127.0.0.1:2889:3889:participant\n"
        "server.3=127.0.0.1:2890:3890:participant\n"
        "version=0"
    )
    assert cfg.warnings == ()
    # A peer parsing that text gets an equal verifier (reconfig stays off).
    assert parse_dynamic_config(cfg.quorum_verifier.to_string()).equals(cfg.quorum_verifier)


@pytest.mark.parametrize(
    ("line", "key", "message"),
    [
        ("tickTime=abc", "tickTime", '"abc" is not a whole number'),
        ("tickTime=0", "tickTime", "must be at least 1, not 0"),
        ("tickTime=3000000000", "tickTime", "is not a whole number"),  # Java int
        ("initLimit=-1", "initLimit", "must be at least 0, not -1"),
        ("syncLimit=ten", "syncLimit", '"ten" is not a whole number'),
        ("cnxTimeout=0", "cnxTimeout", "must be at least 1"),
        ("electionAlg=1", "electionAlg", "Election Algorithm 1 is not supported."),
        ("electionAlg=2", "electionAlg", "Election Algorithm 2 is not supported."),
        ("electionAlg=0", "electionAlg", "Invalid electionAlg value"),
        ("electionAlg=fast", "electionAlg", "Only 3 is supported."),
        ("peerType=leader", "peerType", 'unrecognised peerType "leader"'),
        ("clientPort=70000", "clientPort", "port 70000 is out of range"),
        ("clientPort=x", "clientPort", '"x" is not a port number'),
        ("standaloneEnabled=yes", "standaloneEnabled", "\"yes\" is not 'true' or 'false'"),
        ("reconfigEnabled=1", "reconfigEnabled", "is not 'true' or 'false'"),
        ("multiAddress.enabled=on", "multiAddress.enabled", "is not 'true' or 'false'"),
        ("quorumListenOnAllIPs=maybe", "quorumListenOnAllIPs", "is not 'true' or 'false'"),
        ("dynamicConfigFile=/z/zoo.cfg.dynamic", "dynamicConfigFile", "not supported"),
        ("oraclePath=/z/oracle", "oraclePath", "QuorumOracleMaj is not implemented"),
        ("server.3=127.0.0.1:2888", "server.3", 'election port missing in "127.0.0.1:2888"'),
        ("server.3=127.0.0.1:2890:3890 ", "server.3", 'election port "3890 " is not a number'),
        ("server.3=127.0.0.1:2890:3890|h:1:2", "server.3", "multi-address feature is disabled"),
        ("server.x=127.0.0.1:2890:3890", "server.x", "the id after the dot is not a number"),
        ("group.1=1:2:x", "group.1", '"1:2:x" is not a list of sids'),
        ("weight.1=x", "weight.1", '"x" is not a number'),
        ("version=zz", "version", '"zz" is not a hexadecimal long'),
    ],
)
def test_parse_zoo_cfg_names_file_line_and_key(line: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_zoo_cfg(THREE + line + "\n", "conf/zoo.cfg")
    assert (info.value.path, info.value.line, info.value.key) == ("conf/zoo.cfg", 7, key)
    assert str(info.value).startswith(f"conf/zoo.cfg:7: {key}: ")
    assert message in str(info.value)


def test_parse_zoo_cfg_error_format() -> None:
    with pytest.raises(ConfigError) as info:
        parse_zoo_cfg(THREE + "server.3=127.0.0.1:2888\n")
    assert str(info.value) == 'zoo.cfg:7: server.3: election port missing in "127.0.0.1:2888"'


def test_parse_zoo_cfg_rejects_a_server_id_given_twice() -> None:
    with pytest.raises(ConfigError, match=r"server\.1 is also defined on line") as info:
        parse_zoo_cfg(THREE + "server.01=127.0.0.1:2890:3890\n")
    assert info.value.line in (4, 7)
    with pytest.raises(ConfigError, match=r"server\.2 is also defined on line 5"):
        parse_zoo_cfg(THREE + "server.2=127.0.0.1:2890:3890\n")


def test_parse_zoo_cfg_malformed_escape_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"^zoo.cfg:7: malformed \\uxxxx escape"):
        parse_zoo_cfg(THREE + "dataDir=/tmp/\\u12\n")


def test_QuorumPeerConfig_checkValidity_limits_are_required_when_distributed() -> None:
    servers = "server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n"
    with pytest.raises(ConfigError) as info:
        parse_zoo_cfg("syncLimit=5\n" + servers)
    assert str(info.value) == (
        "zoo.cfg: initLimit: is not set (required when more than one server votes)"
    )
    with pytest.raises(ConfigError) as info:
        parse_zoo_cfg("initLimit=10\nsyncLimit=0\n" + servers)
    assert (info.value.key, info.value.line) == ("syncLimit", 2)
    # A lone participant runs standalone in ZooKeeper: no limits needed.
    alone = parse_zoo_cfg("server.1=127.0.0.1:2888:3888\n")
    assert not alone.is_distributed
    assert alone.tick_time_ms == 3000
    assert alone.cnx_timeout_ms == 5000
    assert "only one participant" in alone.warnings[0]
    with pytest.raises(ConfigError, match="initLimit: is not set"):
        parse_zoo_cfg("standaloneEnabled=false\nserver.1=127.0.0.1:2888:3888\n")


def test_QuorumPeerMainTest_testInconsistentPeerType() -> None:
    text = THREE + "server.3=127.0.0.1:2890:3890:observer\n"
    cfg = parse_zoo_cfg(text, myid=3)
    assert cfg.peer_type == OBS  # the server list wins
    assert (
        "zoo.cfg:7: server.3: Peer type from servers list (OBSERVER) doesn't match "
        "peerType (PARTICIPANT). Defaulting to servers list."
    ) in cfg.warnings
    cfg = parse_zoo_cfg(THREE.replace("# line 6", "peerType=observer"), myid=2)
    assert cfg.peer_type == P
    assert cfg.warnings[-1].startswith("zoo.cfg:6: peerType: Peer type from servers list")
    cfg = parse_zoo_cfg(text + "peerType=Observer\n", myid=3)
    assert not any("Peer type" in w for w in cfg.warnings)


def test_parse_zoo_cfg_keeps_unknown_keys_and_warns_about_repeats() -> None:
    cfg = parse_zoo_cfg(THREE + "autopurge.purgeInterval=1\ntickTime=250\nfoo.bar = baz qux\n")
    assert cfg.tick_time_ms == 250  # the last value wins, as in java.util.Properties
    assert cfg.other == (("autopurge.purgeInterval", "1"), ("foo.bar", "baz qux"))
    assert cfg.warnings == (
        "zoo.cfg:8: tickTime: also set on line 1; the last value wins, as in ZooKeeper",
        "zoo.cfg: No server failure will be tolerated. You need at least 3 servers.",
    )


def test_snap_count_and_size_limit_come_from_zoo_cfg() -> None:
    """ZK: zoo.cfg's snapCount and snapSizeLimitInKb become zookeeper.snapCount and
    zookeeper.snapSizeLimitInKb (every unknown key is copied to a zookeeper.* property)."""
    default = parse_zoo_cfg(THREE)
    assert (default.snap_count, default.snap_size_limit_kb) == (100_000, 4_194_304)
    cfg = parse_zoo_cfg(THREE + "snapCount=1000\nsnapSizeLimitInKb=-1\n")
    assert (cfg.snap_count, cfg.snap_size_limit_kb) == (1000, -1)
    assert cfg.other == ()
    assert parse_zoo_cfg(to_zoo_cfg(cfg)) == cfg
    with pytest.raises(ConfigError, match=r"zoo.cfg:7: snapCount: must be at least 2, not 1"):
        parse_zoo_cfg(THREE + "snapCount=1\n")
    with pytest.raises(ConfigError, match=r"snapSizeLimitInKb: \"4k\" is not a whole number"):
        parse_zoo_cfg(THREE + "snapSizeLimitInKb=4k\n")


def test_the_container_check_interval_comes_from_zoo_cfg() -> None:
    """A Java server takes znode.container.checkIntervalMs from its JVM only; zkfle node
    reads the key from zoo.cfg (ContainerManager's default: a minute)."""
    assert parse_zoo_cfg(THREE).container_check_ms == 60_000
    cfg = parse_zoo_cfg(THREE + "znode.container.checkIntervalMs=1000\n")
    assert cfg.container_check_ms == 1000
    assert cfg.other == ()
    assert parse_zoo_cfg(to_zoo_cfg(cfg)) == cfg
    with pytest.raises(ConfigError, match=r"checkIntervalMs: must be at least 1, not 0"):
        parse_zoo_cfg(THREE + "znode.container.checkIntervalMs=0\n")


def test_parse_zoo_cfg_reconfig_and_relative_dataDir_are_flagged() -> None:
    cfg = parse_zoo_cfg(THREE + "reconfigEnabled=true\ndataDir=data\n")
    assert cfg.reconfig_enabled
    assert cfg.data_dir == "data"
    assert any(
        "reconfigEnabled: dynamic reconfiguration is not modelled" in w for w in cfg.warnings
    )
    assert any("dataDir: data is relative" in w for w in cfg.warnings)


def test_parse_zoo_cfg_client_ports() -> None:
    text = THREE + "server.3=127.0.0.1:2890:3890;2183\nclientPort=2181\n"
    with pytest.raises(ConfigError, match=r"zoo.cfg:8: clientPort: 0.0.0.0:2181 differs"):
        parse_zoo_cfg(text, myid=3)  # ZK: setupClientPort
    cfg = parse_zoo_cfg(text.replace("2181", "2183"), myid=3)
    qs = cfg.servers[3]
    assert qs.client_addr == ("0.0.0.0", 2183)
    assert not qs.is_client_addr_from_static
    assert ";0.0.0.0:2183" in cfg.quorum_verifier.to_string()
    with pytest.raises(ConfigError, match="clientPortAddress is set but clientPort is not set"):
        parse_zoo_cfg(THREE + "clientPortAddress=127.0.0.1\n")
    assert parse_zoo_cfg(THREE + "clientPort=0\n").client_port is None  # 0 means unset


def test_parse_zoo_cfg_multi_address_follows_the_file_or_the_caller() -> None:
    text = THREE + "server.3=127.0.0.1:2890:3890|127.0.0.2:2890:3890\n"
    with pytest.raises(ConfigError, match="multi-address feature is disabled"):
        parse_zoo_cfg(text)
    assert len(parse_zoo_cfg(text, multi_address=True).servers[3].addr) == 2
    assert len(parse_zoo_cfg(text + "multiAddress.enabled=true\n").servers[3].addr) == 2


def test_parse_zoo_cfg_hierarchical() -> None:
    text = THREE + "server.3=127.0.0.1:2890:3890\ngroup.1=1:2\ngroup.2=3\nweight.3=0\n"
    qv = parse_zoo_cfg(text).quorum_verifier
    assert isinstance(qv, QuorumHierarchical)
    assert qv.num_groups == 1
    assert qv.contains_quorum({1, 2})
    assert not qv.contains_quorum({1, 3})
    with pytest.raises(ConfigError, match=r"zoo.cfg:7: server.3: participant 3 is not in a group"):
        parse_zoo_cfg(THREE + "server.3=127.0.0.1:2890:3890\ngroup.1=1:2\n")


def test_parse_zoo_cfg_needs_a_participant() -> None:
    with pytest.raises(ConfigError, match="no participants"):
        parse_zoo_cfg("tickTime=2000\n")
    with pytest.raises(ConfigError, match="observers without a quorum"):
        parse_zoo_cfg("server.1=a:1:2\nserver.2=b:1:2:observer\n")


@settings(max_examples=200, deadline=None)
@given(st.text(), st.sampled_from([None, 1]))
def test_parse_zoo_cfg_never_raises_anything_but_ConfigError(text: str, myid: int | None) -> None:
    with contextlib.suppress(ConfigError):
        assert parse_zoo_cfg(text, myid=myid).quorum_verifier.voting_members


# --- myid -------------------------------------------------------------------------------------


def write_cluster(tmp_path: Path, myid: str | None, extra: str = "") -> Path:
    data = tmp_path / "data"
    data.mkdir()
    if myid is not None:
        (data / "myid").write_text(myid)
    path = tmp_path / "zoo.cfg"
    path.write_text(THREE + f"server.3=127.0.0.1:2890:3890\ndataDir={data}\n{extra}")
    return path


def test_load_zoo_cfg_reads_myid_from_dataDir(tmp_path: Path) -> None:
    path = write_cluster(tmp_path, "2\n")
    cfg = load_zoo_cfg(str(path))
    assert cfg.myid == 2
    assert cfg.path == str(path)
    assert load_zoo_cfg(str(path), myid=3).myid == 3  # the caller's id wins


def test_load_zoo_cfg_without_myid_file(tmp_path: Path) -> None:
    assert load_zoo_cfg(str(write_cluster(tmp_path, None))).myid is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("two\n", '"two" is not a server id'),
        ("2 \n", '"2 " is not a server id'),  # ZK: setupMyId does not trim
        ("", "the myid file is empty"),
        ("\n2\n", '"" is not a server id'),
        ("\udcff", "is not UTF-8 text"),
    ],
)
def test_load_zoo_cfg_rejects_a_broken_myid_file(
    tmp_path: Path, content: str, message: str
) -> None:
    path = write_cluster(tmp_path, None)
    myid = tmp_path / "data" / "myid"
    myid.write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(ConfigError) as info:
        load_zoo_cfg(str(path))
    assert (info.value.path, info.value.key) == (str(myid), "myid")
    assert str(info.value).startswith(f"{myid}:1: myid: ")
    assert message in str(info.value)


def test_load_zoo_cfg_myid_must_be_in_the_server_list(tmp_path: Path) -> None:
    path = write_cluster(tmp_path, "4")
    with pytest.raises(ConfigError) as info:
        load_zoo_cfg(str(path))
    assert str(info.value) == (
        f"{tmp_path / 'data' / 'myid'}:1: myid: 4 is not in the server list "
        "(server.1, server.2, server.3)"
    )
    with pytest.raises(ConfigError, match=r"^zoo.cfg: myid: 9 is not in the server list"):
        parse_zoo_cfg(THREE, myid=9)


def test_load_zoo_cfg_missing_file_and_latin1(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read") as info:
        load_zoo_cfg(str(tmp_path / "nope.cfg"))
    assert info.value.path == str(tmp_path / "nope.cfg")
    path = tmp_path / "zoo.cfg"
    path.write_bytes(THREE.encode() + b"motd=caf\xe9\n")  # Properties.load(InputStream)
    assert load_zoo_cfg(str(path)).other == (("motd", "café"),)


# --- generated clusters and writing zoo.cfg ---------------------------------------------------


def test_generate_config_for_a_local_cluster() -> None:
    cfg = generate_config(3, 1)
    assert (cfg.tick_time_ms, cfg.init_limit, cfg.sync_limit) == (200, 10, 5)
    assert not cfg.standalone_enabled
    assert cfg.myid is None
    qv = cfg.quorum_verifier
    assert list(qv.voting_members) == [1, 2, 3]
    assert list(qv.observing_members) == [4]
    # ZooKeeper 3.8.0 reads to_zoo_cfg(cfg) to exactly this text.
    assert qv.to_string() == (
        "server.1=127.0.0.1:24001:25001:participant;127.0.0.1:26001\n"
        "server.2=127.0.0.1:24002:25002:participant;127.0.0.1:26002\n"
        "server.3=127.0.0.1:24003:25003:participant;127.0.0.1:26003\n"
        "server.4=127.0.0.1:24004:25004:observer;127.0.0.1:26004\n"
        "version=0"
    )
    big = generate_config(51, base_port=30000, tick_time_ms=50, init_limit=4, sync_limit=2)
    assert big.servers[51].election_addr == (("127.0.0.1", 31051),)
    lines = big.quorum_verifier.to_string().splitlines()
    assert [ln.split("=")[0] for ln in lines[:-1]] == [f"server.{s}" for s in range(1, 52)]
    assert big.servers[51].client_addr == ("127.0.0.1", 32051)
    assert (big.tick_time_ms, big.init_limit, big.sync_limit) == (50, 4, 2)
    assert generate_config(1).is_distributed  # a lone node still runs the election


@pytest.mark.parametrize(
    ("args", "message"),
    [((0,), "at least one participant"), ((3, -1), "at least one participant")],
)
def test_generate_config_rejects_bad_sizes(args: tuple[int, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        generate_config(*args)


def test_generate_config_rejects_ports_out_of_range() -> None:
    with pytest.raises(ConfigError, match="base port 64000 leaves no room for 5 servers"):
        generate_config(5, base_port=64000)


def test_to_zoo_cfg_round_trips() -> None:
    generated = generate_config(5, 2)
    assert parse_zoo_cfg(to_zoo_cfg(generated)) == generated
    text = THREE + (
        "server.3=[::1]:2890:3890:observer\nclientPort=2181\ndataDir=/data/zoo keeper\n"
        "peerType=observer\nmultiAddress.enabled=true\nserver.4=b:1:2|a:3:4;5\n"
        "weird\\ key\\:=c:\\\\dir\\u00e9\ngroup.7=1:2:4\nweight.4=3\nversion=1f\ncnxTimeout=99\n"
    )
    cfg = parse_zoo_cfg(text, myid=3)
    assert ("weird key:", "c:\\diré") in cfg.other
    written = to_zoo_cfg(cfg)
    assert written.isascii()
    again = parse_zoo_cfg(written, myid=3)
    assert again == cfg
    assert again.quorum_verifier.to_string() == cfg.quorum_verifier.to_string()
    assert again.warnings == ()  # peerType now agrees with the server list
    assert to_zoo_cfg(again) == written


def test_QuorumPeerConfig_equality_ignores_path_and_warnings() -> None:
    cfg = parse_zoo_cfg(THREE, "a.cfg")
    assert cfg == parse_zoo_cfg(THREE + "tickTime=2000\n", "b.cfg")
    assert isinstance(cfg, QuorumPeerConfig)
    assert hash(cfg) == hash(parse_zoo_cfg(THREE))


# --- against the real ZooKeeper -------------------------------------------------------------

ZK_CLASSPATH = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-api.jar"
PROBE = Path(__file__).parent / "data" / "config" / "ZkConfigProbe.java"


def run_probe(mode: str, files: list[Path]) -> dict[str, str]:
    """What ZooKeeper makes of each file: its config text, or "error"."""
    out = subprocess.run(
        ["java", "-Dzookeeper.multiAddress.enabled=true", "-cp", ZK_CLASSPATH, str(PROBE), mode]
        + [str(f) for f in files],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    results: dict[str, str] = {}
    for block in out.split("=== ")[1:]:
        name, _, body = block.partition("\n")
        text, _, verdict = body.rpartition("--- ")
        results[name] = "error" if verdict.startswith("error") else text.rstrip("\n")
        if mode == "zoo.cfg" and results[name] != "error":
            results[name] += " / " + verdict.strip()
    return results


def random_servers(rnd: random.Random, clients: bool = True) -> list[str]:
    count = rnd.choice([2, 3, 5, 9, 13, 20, 51])
    step = rnd.choice([1, 7, 16, 64, 1 << 32])
    sids = rnd.sample(range(1, 300), count) if step == 1 else [1 + step * i for i in range(count)]
    observers = set(rnd.sample(sids[1:], len(sids) // 4))
    host = rnd.choice(["127.0.0.1", "[::1]", "zk{}.example", "localhost"])
    return [
        f"server.{s}={host.format(s % 5)}:{2000 + i}:{4000 + i}"
        + (":observer" if s in observers else rnd.choice(["", ":participant"]))
        + (rnd.choice(["", f";{3000 + i}", f";127.0.0.1:{3000 + i}"]) if clients else "")
        for i, s in enumerate(sids)
    ]


@pytest.mark.zk
@pytest.mark.skipif(
    shutil.which("java") is None or not os.path.exists("/usr/share/java/zookeeper.jar"),
    reason="needs Java and the Debian zookeeper package",
)
def test_matches_real_zookeeper(tmp_path: Path) -> None:
    """Config texts, myid and peer types as ZooKeeper 3.8 computes them, for random configs
    with colliding sids, observers, hierarchical groups, extra keys and mutations."""
    rnd = random.Random(20261126)
    ours: dict[str, str] = {}
    dynamic: list[Path] = []
    for i in range(120):
        lines = random_servers(rnd)
        if rnd.random() < 0.3:
            voters = [ln.split("=")[0][7:] for ln in lines if ":observer" not in ln]
            lines.append(f"group.{rnd.randint(0, 99)}=" + ":".join(voters))
            lines += [f"weight.{v}={rnd.randint(0, 3)}" for v in voters if rnd.random() < 0.5]
        lines.append(f"version={rnd.randint(0, 1 << 40):x}")
        rnd.shuffle(lines)
        text = "\n".join(lines)
        if i % 3 == 0:  # a small mutation, mostly to compare what is rejected
            at = rnd.randrange(len(text))
            text = text[:at] + rnd.choice(":;|[]=.x0 \n") + text[at + rnd.randint(0, 2) :]
        path = tmp_path / f"dyn{i}"
        path.write_text(text)
        dynamic.append(path)
        try:
            ours[str(path)] = parse_dynamic_config(text, multi_address=True).to_string()
        except ConfigError as e:
            # Where we are stricter than ZooKeeper on purpose (see engine/core/quorum/).
            ours[str(path)] = "lenient" if "no participants" in str(e) else "error"
    static: list[Path] = []
    for i in range(40):
        data = tmp_path / f"data{i}"
        data.mkdir()
        servers = random_servers(rnd, clients=False)
        myid = int(rnd.choice(servers).split("=")[0][7:])
        (data / "myid").write_text(f"{myid}\n")
        lines = [*servers, "tickTime=2000", "initLimit=10", "syncLimit=5", f"dataDir={data}"]
        lines += rnd.sample(["clientPort=2181", "maxClientCnxns=60", "snapCount=10", "a.b=c"], 2)
        rnd.shuffle(lines)
        path = tmp_path / f"zoo{i}.cfg"
        path.write_text("\n".join(lines) + "\n")
        static.append(path)
        try:
            cfg = load_zoo_cfg(str(path), multi_address=True)
            ours[str(path)] = f"{cfg.quorum_verifier.to_string()} / {myid} {cfg.peer_type.name}"
        except ConfigError:
            ours[str(path)] = "error"
    theirs = run_probe("dynamic", dynamic) | run_probe("zoo.cfg", static)
    mismatches = [
        f"{name}:\n{Path(name).read_text()}\n--- ZooKeeper:\n{theirs[name]}\n--- ours:\n{text}"
        for name, text in ours.items()
        if text != theirs[name] and not (text == "lenient" and theirs[name] != "error")
    ]
    assert not mismatches, mismatches[0]
    assert sum(text != "error" for text in ours.values()) > 100
