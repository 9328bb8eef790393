"""`--runtime zookeeper` without java: one clear line saying how to install it, exit 2,
and nothing left behind (no JVM could start, the proxy never opened)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_without_java_the_runtime_says_how_to_install_it(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    for command in (["run"], ["shell"], []):
        done = subprocess.run(
            [sys.executable, "-m", "console.cli", *command, "--runtime", "zookeeper"],
            capture_output=True,
            text=True,
            env={"PATH": str(empty), "HOME": str(tmp_path)},
            cwd=tmp_path,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert done.stderr.splitlines() == [
            "zkfle: --runtime zookeeper: no `java` on PATH (install Debian's `zookeeper`"
            " package: apt-get install -y zookeeper, which brings a JRE)"
        ]
        assert not (tmp_path / "traces").exists()  # no trace was begun
