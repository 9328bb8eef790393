"""Regenerate java_vectors.json: Java's own answers for the byte cases tests/test_wire.py checks.

Needs a JDK and the ZooKeeper 3.8 jar (Debian: `apt-get install zookeeper default-jdk`):

    python tests/data/wire/make_java_vectors.py [path/to/zookeeper.jar]

Only literal hosts are asked about, so the answers do not depend on this machine's DNS.
"""

from __future__ import annotations

import json
import random
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ZK_JAR = "/usr/share/maven-repo/org/apache/zookeeper/zookeeper/3.8.0/zookeeper-3.8.0.jar"
SLF4J = ["/usr/share/java/slf4j-api.jar", "/usr/share/java/slf4j-nop.jar"]
LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1

ADDRESSES = [
    "10.0.0.2:3888",
    "1.1.1.1:9999|2.2.2.2:8888|3.3.3.3:7777",
    "what's going on here?",
    "[::1]:3888",
    "[::1]x3888",
    "[::1]",
    "[::1]:",
    "[::1]:3888:5",
    "[::1",
    "[::1]::",
    "[::1]:80:",
    "[a]b]:1",
    "[:1",
    "[fe80::1%1]:3888",
    "host:",
    "host:3888:",
    "a::b",
    "::1:3888",
    ":",
    "::",
    "|",
    "|||",
    "|10.0.0.1:1",
    "10.0.0.1:1|",
    "10.0.0.1:1||10.0.0.2:2",
    "0.0.0.0:3888",
    "[::]:3888",
    "0.0.0.0:3888|10.0.0.1:1",
    "10.0.0.1:1|0.0.0.0:2|[::]:3",
    "0.0.0.0:99999",
    "0.0.0.0:abc",
    "10.0.0.1:+5",
    "10.0.0.1:-0",
    "10.0.0.1:00080",
    "10.0.0.1:+",
    "10.0.0.1:-1",
    "10.0.0.1:0",
    "10.0.0.1:65535",
    "10.0.0.1:65536",
    "10.0.0.1:2147483648",
    "10.0.0.1:99999999999",
    "10.0.0.1: 5",
    "10.0.0.1:5 ",
    "10.0.0.1:3_888",
    "10.0.0.1:0x10",
    "10.0.0.1:\u0663\u0668\u0668\u0668",
    "h\u00e9:1",
]

WILDCARD_LITERALS = [
    "0.0.0.0", "::", "[::]", "::0", "0:0:0:0:0:0:0:0", "::ffff:0.0.0.0", "::0.0.0.0", "0000::",
    "0", "0.0", "0.0.0", "00.0.0.0", "000.000.000.000", "0000.000.000.000", "::%1",
    "127.0.0.1", "255.255.255.255", "1.2.3.4", "::1", "[0.0.0.0]", "[::1]", "0.0.0.1",
]  # fmt: skip


def handshake_cases() -> list[tuple[int, bytes]]:
    cases = []
    for text in ADDRESSES:
        raw = text.encode()
        cases.append((-65536, struct.pack(">qi", 5, len(raw)) + raw))
    cases.append((-65535, struct.pack(">qi", 7, 9) + b"h:1|i:2|j"))
    cases.append((-65530, struct.pack(">qi", 5, 13) + b"10.0.0.2:3888"))
    for n in (0, -1, 2049, 1 << 20):
        cases.append((-65536, struct.pack(">qi", 5, n) + b"a" * max(0, min(n, 2049))))
    cases.append((-65536, struct.pack(">qi", 5, 2048) + b"a" * 2048))
    cases.append((-65536, struct.pack(">qi", 5, 13) + b"10.0.0.2:38"))
    cases.append((-65536, struct.pack(">qi", 5, 4) + b"\xff\xfe:1"))
    return cases


def utf8_cases(rng: random.Random) -> list[bytes]:
    pool = list(bytes.fromhex("00417f808f909fa0bfc0c1c2dfe0e1ecedeeeff0f1f3f4f5f8feff"))
    valid = ["a", "\u00e9", "\u20ac", "\ud55c", "\U0001f600", "\U0010ffff"]
    cases = [b"\xed\xa0\x80", b"\xed\xa0", b"\xed\xbf\xbf\x41", b"\xf0\x90\x80\x80\xed\xa0"]
    for _ in range(1200):
        parts = [
            rng.choice(valid).encode() if rng.random() < 0.3 else bytes([rng.choice(pool)])
            for _ in range(rng.randint(1, 8))
        ]
        cases.append(b"".join(parts))
    return cases


def build_cases(rng: random.Random) -> list[tuple[list[int], bytes | None]]:
    longs = [0, 1, -1, LONG_MIN, LONG_MAX, 0x100000005]
    cases: list[tuple[list[int], bytes | None]] = [
        ([0, 3, 0x100000005, 2, 1], b"server.1=127.0.0.1:2888:3888:participant\nversion=0"),
        ([3, LONG_MIN, LONG_MIN, 7, LONG_MIN], b""),
        ([1, 2, -1, 1, 0], None),
    ]
    for _ in range(20):
        args = [rng.randint(0, 3)] + [rng.choice(longs) for _ in range(4)]
        config = "".join(rng.choice("ab=.\n\u00e9\U0001f600") for _ in range(rng.randint(0, 9)))
        cases.append((args, config.encode() if rng.random() < 0.8 else None))
    return cases


def main() -> None:
    zk_jar = sys.argv[1] if len(sys.argv) > 1 else ZK_JAR
    rng = random.Random(20260101)
    hs, utf, bm = handshake_cases(), utf8_cases(rng), build_cases(rng)
    requests = [f"H {v} {body.hex()}" for v, body in hs]
    requests += [f"W {h.encode().hex()}" for h in WILDCARD_LITERALS]
    requests += [f"U {b.hex()}" for b in utf]
    for args, config in bm:
        kind = "B5" if config is None else "B6"
        tail = "" if config is None else " " + config.hex()
        requests.append(f"{kind} {' '.join(map(str, args))}{tail}")
    classpath = ":".join([zk_jar, *SLF4J])
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["javac", "-cp", classpath, "-d", tmp, str(HERE / "ZkfleOracle.java")], check=True
        )
        run = subprocess.run(
            ["java", "-cp", f"{tmp}:{classpath}", "org.apache.zookeeper.server.quorum.ZkfleOracle"],
            input="\n".join(requests) + "\n",
            capture_output=True,
            text=True,
            check=True,
        )
    # Java's messages quote the whole bad address; keep the vectors file readable.
    answers = iter(a[:160] if a.startswith("ERR") else a for a in run.stdout.splitlines())
    vectors = {
        "source": f"{Path(zk_jar).name}, generated by make_java_vectors.py",
        "initial_message": [
            {"version": v, "body": body.hex(), "java": next(answers)} for v, body in hs
        ],
        "wildcard": [{"host": h, "java": next(answers) == "true"} for h in WILDCARD_LITERALS],
        "utf8": [{"bytes": b.hex(), "java": next(answers)} for b in utf],
        "build_msg": [
            {"args": args, "config": None if c is None else c.hex(), "java": next(answers)}
            for args, c in bm
        ],
    }
    assert next(answers, None) is None, "more answers than requests"
    (HERE / "java_vectors.json").write_text(json.dumps(vectors, indent=1) + "\n")


if __name__ == "__main__":
    main()
