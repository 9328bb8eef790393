"""Provides `zkfle bench console`: the console's frames per second and frame times under a
message storm, and what it costs an election, measured side by side in one run (the other
bench modes are in engine.bench, which never imports the console)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from console import app as app_mod
from console.screens import cluster as screens
from engine.bench import cli as bench_cli
from engine.bench.harness import JSON, fmt_num, fmt_span, machine, print_machine, summary
from engine.bench.probe import (
    Sample,
    publisher_cpu_s,
    recorded,
    thread_cpu_s,
    whole_election,
)
from engine.control.cluster import Cluster, ClusterOptions
from engine.control.remote import RemoteCluster

OVERHEAD_TARGET = 1.05
"""Issue 13: an election with the console drawing within 1.05x of one without."""
FRAMES_TARGET = 30.0
"""Issue 13: frames per second with 9 nodes under a storm."""


def cmd_bench(args: argparse.Namespace) -> int:
    """`zkfle bench MODE`: the console mode here, the others in engine.bench."""
    if args.bench_mode != "console":
        return bench_cli.cmd_bench(args)
    result = bench_console(
        args.seconds,
        nodes=args.nodes,
        reps=max(args.reps, 1),
        profile=args.profile,
        in_process=args.in_process,
    )
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


Attached = Cluster | RemoteCluster
"""The cluster the console draws: in a child process as `zkfle` runs it, or in its own."""


@contextlib.contextmanager
def _attached(options: ClusterOptions, in_process: bool) -> Iterator[Attached]:
    cluster = Cluster(options) if in_process else RemoteCluster(options)
    try:
        yield cluster
    finally:
        cluster.close()


def _measured(cluster: Attached, function: Callable[..., Any], *args: object) -> Any:
    """`function(cluster, *args)` where the cluster runs (its child process, or here)."""
    if isinstance(cluster, RemoteCluster):
        return cluster.call(function, *args)
    return function(cluster, *args)


Traffic = tuple[float, float | None, float | None]
"""The wall clock, and the CPU so far of the child's publisher and of the reader here."""


def _traffic_cpu(cluster: Attached) -> Traffic:
    if not isinstance(cluster, RemoteCluster):
        return time.perf_counter(), None, None
    publisher = cluster.call(publisher_cpu_s)
    return time.perf_counter(), publisher, thread_cpu_s("RemoteReader")


def _traffic_share(before: Traffic, after: Traffic) -> tuple[float | None, float | None]:
    """The share of a CPU the child's publisher and the parent's reader took between."""
    span = after[0] - before[0]
    shares = [
        round((b - a) / span, 4) if a is not None and b is not None and span > 0 else None
        for a, b in zip(before[1:], after[1:], strict=True)
    ]
    return shares[0], shares[1]


def percentile(values: list[float], p: int) -> float | None:
    """The p-th percentile (statistics.quantiles, inclusive), None without values."""
    if len(values) < 2:
        return round(values[0], 2) if values else None
    return round(statistics.quantiles(values, n=100, method="inclusive")[p - 1], 2)


def _spread(values: list[float]) -> JSON | None:
    """median, min and max to three decimals (ratios)."""
    if not values:
        return None
    median = statistics.median(values)
    return {"median": round(median, 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def bench_console(
    seconds: float,
    nodes: int = 9,
    reps: int = 5,
    profile: Path | None = None,
    in_process: bool = False,
) -> JSON:
    """On one threaded cluster with the console attached (headless Textual): `reps` pairs
    of elections, one with the console drawing and one with its poll timer stopped, in
    alternating order; then a storm of `seconds` during which every frame is timed (and,
    with `profile`, the UI thread's CPU is profiled to that file). The cluster runs in a
    child process, as `zkfle` runs it, unless `in_process`; the elections are measured
    where it runs."""
    options = ClusterOptions(nodes=nodes, runtime="threaded", record=False, label="bench")
    result: JSON = {}

    async def attached() -> None:
        with (
            _attached(options, in_process) as cluster,
            _FrameCounter(screens.ClusterScreen) as fc,
        ):
            app = app_mod.ZkfleApp(cluster)
            async with app.run_test(headless=True, size=(160, 50)) as pilot:
                loop = asyncio.get_running_loop()

                def run(fn: Callable[[], Any]) -> asyncio.Future[Any]:
                    return loop.run_in_executor(None, fn)

                screen = app.screen
                assert isinstance(screen, screens.ClusterScreen)
                timer = screen.poll_timer
                assert timer is not None
                await run(lambda: _measured(cluster, whole_election, True))
                drawing: list[Sample] = []
                stopped: list[Sample] = []
                ui_cpu = {True: 0.0, False: 0.0}
                loads: list[float] = []
                for i in range(2 * reps):
                    if i % 2 == 0:
                        loads.append(round(os.getloadavg()[0], 2))
                    draw = (i % 4) in (0, 3)  # with, without, without, with, ...
                    if draw:
                        timer.resume()
                    else:
                        timer.pause()
                    await pilot.pause(0.2)  # a drawing console has caught up first
                    c0 = time.thread_time()
                    sample = await run(lambda: _measured(cluster, whole_election))
                    (drawing if draw else stopped).append(sample)
                    ui_cpu[draw] += time.thread_time() - c0
                timer.resume()
                await pilot.pause(0.2)
                # The storm: every message twice, and a fresh election of all nodes again
                # and again, for `seconds`.
                await run(lambda: cluster.execute("dup * 100%"))
                storm_load = round(os.getloadavg()[0], 2)
                stop = threading.Event()
                seq0 = await run(lambda: _measured(cluster, recorded))
                traffic0 = await run(lambda: _traffic_cpu(cluster))

                def storm() -> int:
                    rounds = 0
                    while not stop.is_set():
                        cluster.execute("crash all")
                        cluster.execute("start")
                        cluster.execute("wait until stable within 5s")
                        rounds += 1
                    return rounds

                profiler = cProfile.Profile(time.thread_time) if profile else None
                storming = run(storm)
                t0, c0 = time.perf_counter(), time.thread_time()
                if profiler is not None:
                    profiler.enable()
                await pilot.pause(seconds)
                if profiler is not None:
                    profiler.disable()
                t1, c1 = time.perf_counter(), time.thread_time()
                stop.set()
                rounds = await storming
                if profiler is not None and profile is not None:
                    profiler.dump_stats(profile)
                events = await run(lambda: _measured(cluster, recorded)) - seq0
                traffic = _traffic_share(traffic0, await run(lambda: _traffic_cpu(cluster)))
                frames = fc.between(t0, t1)
                ms = [d * 1000 for d in frames]
                span = t1 - t0
                result.update(
                    {
                        "drawing": drawing,
                        "load_before_pairs": loads,
                        "load_before_storm": storm_load,
                        "stopped": stopped,
                        "ui_cpu_ms_per_election_drawing": round(ui_cpu[True] * 1000 / reps, 1),
                        "ui_cpu_ms_per_election_stopped": round(ui_cpu[False] * 1000 / reps, 1),
                        "storm_s": round(span, 3),
                        "storm_events": events,
                        "storm_events_per_s": round(events / span),
                        "storm_elections": rounds,
                        "frames": len(frames),
                        "frames_per_s": round(len(frames) / span, 1),
                        "frame_ms": summary(ms),
                        "frame_p50_ms": percentile(ms, 50),
                        "frame_p99_ms": percentile(ms, 99),
                        "frame_busy_fraction": round(sum(frames) / span, 3),
                        "ui_cpu_fraction": round((c1 - c0) / span, 3),
                        "ui_cpu_ms_per_frame": round((c1 - c0) * 1000 / len(frames), 2)
                        if frames
                        else None,
                        "publisher_cpu_fraction": traffic[0],
                        "reader_cpu_fraction": traffic[1],
                    }
                )

    load_before = machine()
    asyncio.run(attached())
    drawing: list[Sample] = result.pop("drawing")
    stopped: list[Sample] = result.pop("stopped")
    pairs = [
        d.took_ms / s.took_ms
        for d, s in zip(drawing, stopped, strict=True)
        if d.ok and s.ok and d.took_ms and s.took_ms
    ]
    return {
        "bench": "console",
        "available": True,
        "machine": load_before,
        "load_after": machine()["loadavg"],
        "nodes": nodes,
        "cluster_process": "the console's" if in_process else "its own",
        "fps_cap": screens.FPS,
        **result,
        "target_frames_per_s": FRAMES_TARGET,
        "target_ratio": OVERHEAD_TARGET,
        "took_ms_stopped": summary([s.took_ms for s in stopped if s.ok]),
        "took_ms_drawing": summary([s.took_ms for s in drawing if s.ok]),
        "stable_ms_stopped": summary([s.stable_ms for s in stopped if s.ok]),
        "stable_ms_drawing": summary([s.stable_ms for s in drawing if s.ok]),
        "took_ratio": _spread(pairs),
        "took_ratios": [round(r, 3) for r in pairs],
    }


def print_console(r: JSON) -> None:
    if not r["available"]:
        print(f"console: {r['reason']}")
        return
    print_machine(r["machine"])
    pairs = " ".join(str(load) for load in r["load_before_pairs"])
    print(
        f"  load (1 min) before each pair: {pairs}; before the storm: {r['load_before_storm']};"
        f" after: {r['load_after']}"
    )
    print(
        f"console: {r['nodes']} nodes in {r['cluster_process']} process,"
        f" storm of {r['storm_events_per_s']} events/s"
        f" ({r['storm_elections']} elections in {r['storm_s']} s, every message duplicated)"
    )
    print(
        f"  {r['frames_per_s']} frames/s (cap {r['fps_cap']}, target"
        f" {r['target_frames_per_s']:.0f}); frame (poll) p50 {fmt_num(r['frame_p50_ms'])} ms,"
        f" p99 {fmt_num(r['frame_p99_ms'])} ms; UI thread CPU"
        f" {fmt_num(r['ui_cpu_ms_per_frame'])} ms a frame, {r['ui_cpu_fraction']:.0%} of the time"
    )
    if r["publisher_cpu_fraction"] is not None:
        print(
            f"  the traffic between the processes: the child's publisher"
            f" {fmt_num(r['publisher_cpu_fraction'], '{:.1%}')} of a CPU, the console's reader"
            f" {fmt_num(r['reader_cpu_fraction'], '{:.1%}')}"
        )
    ratio = r["took_ratio"]
    print(
        f"  election took, {len(r['took_ratios'])} pairs: console drawing"
        f" {fmt_span(r['took_ms_drawing'])} ms, console stopped {fmt_span(r['took_ms_stopped'])}"
        f" ms; ratio {fmt_num(ratio['median'] if ratio else None, '{:.3f}')}x"
        f" [{fmt_num(ratio['min'] if ratio else None, '{:.2f}')}-"
        f"{fmt_num(ratio['max'] if ratio else None, '{:.2f}')}] (target"
        f" {r['target_ratio']:.2f}x)"
    )
    print(
        f"  the UI thread's CPU an election: {r['ui_cpu_ms_per_election_drawing']} ms drawing,"
        f" {r['ui_cpu_ms_per_election_stopped']} ms stopped"
    )
