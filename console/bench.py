"""Provides `zkfle bench console`: the console's frames per second under a message storm,
and election latency with the console attached vs headless (the other bench modes are in
engine.bench, which never imports the console)."""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from console import app as app_mod
from console.screens import cluster as screens
from engine.bench import cli as bench_cli
from engine.bench.harness import JSON, TARGETS, fmt_num, fmt_span, machine, print_machine, summary
from engine.bench.probe import Sample, StabilityProbe, probed_cluster, take_sample, wait_stable
from engine.bench.recording import cost
from engine.control.cluster import Cluster, ClusterOptions


def cmd_bench(args: argparse.Namespace) -> int:
    """`zkfle bench MODE`: the console mode here, the others in engine.bench."""
    if args.bench_mode != "console":
        return bench_cli.cmd_bench(args)
    result = bench_console(args.seconds, nodes=args.nodes, reps=max(args.reps, 1))
    return bench_cli.report(args, result, print_console, failed=False)


class _FrameCounter:
    """Wraps ClusterScreen.poll (one frame: read the backend, redraw what changed)."""

    def __init__(self, cls: Any) -> None:
        self.cls = cls
        self.original = cls.poll
        self.frames: list[tuple[float, float]] = []

    def __enter__(self) -> _FrameCounter:
        original = self.original
        frames = self.frames

        def poll(screen: Any) -> None:
            t0 = time.perf_counter()
            original(screen)
            frames.append((t0, time.perf_counter() - t0))

        self.cls.poll = poll
        return self

    def __exit__(self, *exc: object) -> None:
        self.cls.poll = self.original

    def between(self, t0: float, t1: float) -> list[float]:
        return [d for t, d in self.frames if t0 <= t <= t1]


def _restart_elections(cluster: Cluster, probe: StabilityProbe, reps: int) -> list[Sample]:
    samples = []
    for _ in range(reps):
        probe.arm(boots=len(cluster.sids))
        cluster.execute("crash all")  # restart brings back crashed nodes only
        cluster.execute("start")
        ok = wait_stable(cluster, probe, 30_000.0)
        samples.append(take_sample(probe, cluster, ok, None))
        cluster.wait_until(lambda v: v.settled, 10_000.0)
    return samples


def bench_console(seconds: float, nodes: int = 9, reps: int = 5) -> JSON:
    """Frames per second of the console under a message storm, and election latency with
    the console attached vs headless."""

    def options() -> ClusterOptions:
        return ClusterOptions(nodes=nodes, runtime="threaded", record=False, label="bench")

    with probed_cluster(options()) as (cluster, probe):
        probe.arm()
        cluster.start()
        wait_stable(cluster, probe, 30_000.0)
        cluster.wait_until(lambda v: v.settled, 10_000.0)
        headless = _restart_elections(cluster, probe, reps)

    result: JSON = {}

    async def attached() -> None:
        with (
            probed_cluster(options()) as (cluster, probe),
            _FrameCounter(screens.ClusterScreen) as fc,
        ):
            app = app_mod.ZkfleApp(cluster)
            async with app.run_test(headless=True, size=(160, 50)) as pilot:
                loop = asyncio.get_running_loop()

                def run(fn: Callable[[], Any]) -> asyncio.Future[Any]:
                    return loop.run_in_executor(None, fn)

                probe.arm()
                await run(cluster.start)
                await run(lambda: wait_stable(cluster, probe, 30_000.0))
                await run(lambda: cluster.wait_until(lambda v: v.settled, 10_000.0))
                with_console = await run(lambda: _restart_elections(cluster, probe, reps))
                # The storm: every message twice, and a fresh election of all nodes again
                # and again, for `seconds`.
                await run(lambda: cluster.execute("dup * 100%"))
                stop = threading.Event()
                seq0 = cluster.recorder.seq

                def storm() -> int:
                    rounds = 0
                    while not stop.is_set():
                        cluster.execute("crash all")
                        cluster.execute("start")
                        cluster.execute("wait until stable within 5s")
                        rounds += 1
                    return rounds

                t0 = time.perf_counter()
                storming = run(storm)
                await pilot.pause(seconds)
                t1 = time.perf_counter()
                stop.set()
                rounds = await storming
                events = cluster.recorder.seq - seq0
                frames = fc.between(t0, t1)
                result.update(
                    {
                        "with_console": with_console,
                        "storm_s": round(t1 - t0, 3),
                        "storm_events": events,
                        "storm_events_per_s": round(events / (t1 - t0)),
                        "storm_elections": rounds,
                        "frames": len(frames),
                        "frames_per_s": round(len(frames) / (t1 - t0), 1),
                        "frame_ms": summary([d * 1000 for d in frames]),
                        "frame_busy_fraction": round(sum(frames) / (t1 - t0), 3),
                    }
                )

    asyncio.run(attached())
    with_console: list[Sample] = result.pop("with_console")
    took_headless = summary([s.took_ms for s in headless if s.ok])
    took_console = summary([s.took_ms for s in with_console if s.ok])
    return {
        "bench": "console",
        "available": True,
        "machine": machine(),
        "nodes": nodes,
        "fps_cap": getattr(screens, "FPS", None),
        **result,
        "target_frames_per_s": TARGETS["console_redraws_per_s"],
        "took_ms_headless": took_headless,
        "took_ms_console": took_console,
        "stable_ms_headless": summary([s.stable_ms for s in headless if s.ok]),
        "stable_ms_console": summary([s.stable_ms for s in with_console if s.ok]),
        "console_cost": cost(took_console, took_headless),
    }


def print_console(r: JSON) -> None:
    if not r["available"]:
        print(f"console: {r['reason']}")
        return
    print_machine(r["machine"])
    print(
        f"console: {r['nodes']} nodes, storm of {r['storm_events_per_s']} events/s"
        f" ({r['storm_elections']} elections in {r['storm_s']} s, every message duplicated)"
    )
    print(
        f"  {r['frames_per_s']} frames/s (cap {r['fps_cap']}, target"
        f" {r['target_frames_per_s']:.0f}); frame {fmt_span(r['frame_ms'])} ms; UI busy"
        f" {r['frame_busy_fraction']:.0%} of the time in frames"
    )
    print(
        f"  election took: headless {fmt_span(r['took_ms_headless'])} ms, console attached"
        f" {fmt_span(r['took_ms_console'])} ms ({fmt_num(r['console_cost'], '{:+.1%}')})"
    )
