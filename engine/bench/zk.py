"""Real Apache ZooKeeper 3.8 measured in the same run, by tools/zk/measure.py: the figures
our elections are compared with (`--zk`, mode `zk`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

from engine.bench.harness import JSON

ZK_JAR = Path("/usr/share/java/zookeeper.jar")
"""Real ZooKeeper is installed when this exists (Debian package `zookeeper`)."""
ZK_MEASURE_ENV = "ZKFLE_ZK_MEASURE"
REPO = Path(__file__).resolve().parents[2]
DEFAULT_ZK_MEASURE = REPO.parent / "shared" / "tools" / "zk" / "measure.py"


# --- real ZooKeeper ---------------------------------------------------------------------------


def zk_measure_path(option: str | None) -> Path:
    return Path(option or os.environ.get(ZK_MEASURE_ENV) or DEFAULT_ZK_MEASURE)


def run_zookeeper(
    sizes: Sequence[int],
    reps: int,
    script: Path,
    *,
    idle_threshold: float,
    idle_wait_s: float,
    log: Callable[[str], None],
) -> tuple[JSON | None, str | None]:
    """Measure real ZooKeeper with measure.py; (its summary per size, None) or (None, why not)."""
    if not ZK_JAR.exists():
        return None, f"ZooKeeper is not installed ({ZK_JAR} missing)"
    if not script.is_file():
        return None, f"no ZooKeeper measuring script at {script}"
    with tempfile.TemporaryDirectory(prefix="zkfle-bench-zk-") as tmp:
        out = Path(tmp) / "zk.json"
        cmd = [
            sys.executable,
            str(script),
            "--sizes",
            ",".join(map(str, sizes)),
            "--reps",
            str(reps),
            "--out",
            str(out),
            "--idle-threshold",
            str(idle_threshold),
            "--idle-wait",
            str(idle_wait_s),
        ]
        log(f"ZooKeeper: {' '.join(cmd)}")
        tail: list[str] = []
        try:
            with subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            ) as proc:
                assert proc.stdout is not None
                for line in proc.stdout:  # its progress: one line per trial
                    line = line.rstrip()
                    tail = [*tail[-2:], line]
                    if line.startswith("N="):
                        log(f"  zk {line}")
                returncode = proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"measure.py failed: {e}"
        if returncode != 0 or not out.exists():
            return None, f"measure.py exited {returncode}: {' | '.join(tail)}"
        try:
            data = orjson.loads(out.read_bytes())
        except orjson.JSONDecodeError as e:
            return None, f"measure.py wrote unreadable JSON: {e}"
    result: JSON = {"meta": data.get("meta", {}), "sizes": {}}
    for n in sizes:
        s = data.get("summary", {}).get(str(n))
        if s:
            result["sizes"][n] = s
    return result, None


def zk_phase(zk: JSON | None, n: int, phase: str) -> JSON | None:
    if zk is None:
        return None
    s = zk["sizes"].get(n)
    if not s or not s.get("ok"):
        return None

    def get(key: str) -> JSON | None:
        v = s.get(f"{phase}.{key}")
        return v if isinstance(v, dict) else None

    wall = "wall_new_leader_serving_ms" if phase == "failover" else "log_fle_span_ms"
    return {
        "reps": s.get("ok"),
        "took_max_ms": get("zk_took_max_ms"),
        "took_leader_ms": get(
            "zk_took_leader_ms" if phase == "initial" else "zk_took_new_leader_ms"
        ),
        "wall_ms": get(wall),
        "wall_metric": wall,
        "sent": get("msgs.sent"),
        "received": get("msgs.recv"),
    }


__all__ = ["run_zookeeper"]
