"""engine.runtime.zookeeper.server without a JVM: the configs it writes, the ports it picks, how it
says that ZooKeeper cannot run, and four-letter words against a fake server."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from engine.runtime.zookeeper.server import (
    ServerAddress,
    ZkServer,
    ZkServerError,
    ZkSettings,
    four_letter_word,
    free_ports,
    java_missing,
    make_ensemble,
    real_ports,
    route_through,
)


def test_free_ports_are_distinct_bindable_and_never_ephemeral() -> None:
    low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = free_ports(20)
    assert len(set(ports)) == 20
    assert all(not low <= p <= high for p in ports)
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_each_server_gets_its_own_dir_myid_and_a_config_with_every_server(tmp_path: Path) -> None:
    servers = make_ensemble(tmp_path, (1, 2, 3), ZkSettings(tick_time_ms=300), observers={3})
    servers[2].write_config()
    assert (tmp_path / "n2" / "data" / "myid").read_text() == "2\n"
    cfg = (tmp_path / "n2" / "zoo.cfg").read_text().splitlines()
    assert "tickTime=300" in cfg
    assert f"dataDir={tmp_path / 'n2' / 'data'}" in cfg
    assert f"clientPort={servers[2].client_port}" in cfg
    for line in ("4lw.commands.whitelist=*", "reconfigEnabled=false", "standaloneEnabled=false"):
        assert line in cfg
    q, e = real_ports(servers)[3]
    assert f"server.3=127.0.0.1:{q}:{e}:observer" in cfg
    assert (
        "log4j.appender.FILE.File=${zookeeper.log.file}"
        in (tmp_path / "n2" / "log4j.properties").read_text()
    )


def test_route_through_changes_the_peers_ports_and_keeps_the_servers_own(tmp_path: Path) -> None:
    servers = make_ensemble(tmp_path, (1, 2, 3), ZkSettings())
    real = real_ports(servers)
    route_through(servers, lambda viewer, peer: (50000 + 10 * viewer + peer, 60000 + peer))
    assert servers[1].view[1] == ServerAddress(*real[1])
    assert servers[1].view[2] == ServerAddress(50012, 60002)
    assert servers[3].view[1] == ServerAddress(50031, 60001)
    assert real_ports(servers) == real


def test_without_java_a_start_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no java here
    assert java_missing() == (
        "no `java` on PATH (install Debian's `zookeeper` package: apt-get install -y zookeeper,"
        " which brings a JRE)"
    )
    server = ZkServer(1, tmp_path / "n1", 2181, {1: ServerAddress(2888, 3888)})
    with pytest.raises(ZkServerError, match=r"^n1: cannot start ZooKeeper: no `java` on PATH"):
        server.start()
    assert not server.alive()
    server.stop()  # nothing to stop: no error


def test_four_letter_words_read_the_whole_answer_or_none() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            assert conn.recv(4) == b"srvr"
            conn.sendall(b"Zookeeper version: 3.8.0\nMode: follower\nNode count: 5\n")

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        server = ZkServer(1, Path("/nonexistent"), port, {})
        assert server.mode() == "follower"
    finally:
        thread.join(10)
        listener.close()
    assert four_letter_word(port, "srvr", timeout_s=1.0) is None  # nobody listens now
