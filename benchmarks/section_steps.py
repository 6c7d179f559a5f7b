"""Section 6, steps: what one fire of an empty job costs, step by step, in a real kernel.

A fire goes timer → decision (``core.due``) → save (last_fired and "running" on disk) → hooks
drained → activity (iopub busy) → the run: SIGINT guard, fd capture, stream swap, figures, exec →
record (``core.finish``, events, hooks queued) → activity (idle) → re-arm. Each step is wrapped in
the kernel with a perf_counter timer (the wrappers' own cost, ~0.3 µs, is measured and taken off),
and fires are driven by calling the bridge's wake-up directly, back to back: the loop's own
scheduling is the lateness section's business. Durable and non-durable jobs both, since the save
is the durable path's step. Prints each step's median, and the whole fire's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness import Targets, say, table
from kernelutil import Kernel, kernel_env

# (name, owner expression in the kernel, attribute): the steps, in the order a fire takes them
STEPS = [
    ("decision (core.due)", "_b.core", "due"),
    ("save before the code", "_b", "_save_if_dirty"),
    ("hooks drained", "_b.hooks", "drain"),
    ("activity hold", "_b._activity", "hold"),
    ("activity enter", "_b._activity", "enter"),
    ("activity exit", "_b._activity", "exit"),
    ("SIGINT guard (stopper.guard)", "_b.runner.stopper", "guard"),
    ("fd capture (around)", "_b.runner.routing.fd", "around"),
    ("stream swap (job_streams)", "_b.runner.routing", "job_streams"),
    ("compile cache (prepare)", "_b.runner", "prepare"),
    ("run record (Runner._run)", "_b.runner", "_run"),
    ("record (core.finish: events, hooks)", "_b.core", "finish"),
    ("re-arm (_arm)", "_b", "_arm"),
]

SETUP = r"""
import contextlib, time, statistics, loopal_ipy
_b = loopal_ipy.get_scheduler()
_t = {}
_perf = time.perf_counter

def _timed(owner, attr, name):
    original = getattr(owner, attr)
    if getattr(original, "__wrapped_step__", False):
        return
    if attr in ("guard", "around", "job_streams"):  # context managers: time entering and leaving
        @contextlib.contextmanager
        def wrapper(*a, **k):
            t0 = _perf()
            with original(*a, **k):
                t1 = _perf()
                yield
                t2 = _perf()
            _t.setdefault(name, []).append((t1 - t0) + (_perf() - t2))
    else:
        def wrapper(*a, **k):
            t0 = _perf()
            try:
                return original(*a, **k)
            finally:
                _t.setdefault(name, []).append(_perf() - t0)
    wrapper.__wrapped_step__ = True
    setattr(owner, attr, wrapper)
"""

# The fires run from this cell, as if the kernel were idle: the cell steps out of the busy count.
DRIVE = r"""
_job = _b.get({name!r})
_whole = []
_cells, _b._busy._cells = _b._busy._cells, []
try:
    for _ in range({fires}):
        _job.next_fire = _b.core.clock.now()
        _b.core._push(_job)
        t0 = _perf()
        _b._wake()
        _whole.append(_perf() - t0)
finally:
    _b._busy._cells = _cells
assert _job.runs >= {fires}, _job.runs
"""


def run_steps(cfg: argparse.Namespace, root: Path, targets: Targets) -> dict[str, Any]:
    fires = 50 if cfg.quick else 2000
    say(f"\n[6] steps: one fire of an empty job, step by step, in a real kernel ({fires} fires, medians)")
    results: dict[str, Any] = {}
    (root / "steps").mkdir(exist_ok=True)
    with Kernel(env=kernel_env(root / "steps", LOOPAL_SESSION_ID="bench-steps")) as k:
        _ok(k, "%load_ext loopal_ipy")
        _ok(k, SETUP)
        for label, owner, attr in STEPS:
            _ok(k, f"_timed({owner}, {attr!r}, {label!r})")
        for kind, flags in (("non-durable", ""), ("durable", "--durable ")):
            name = f"steps_{kind.replace('-', '_')}"
            _ok(k, f'%cron create {flags}--name {name} "@hourly" pass')
            _ok(k, "_t.clear()")
            _ok(k, DRIVE.format(name=name, fires=fires), timeout=600)
            got = json.loads(
                _ok(k, "import json; print(json.dumps({n: statistics.median(v) for n, v in _t.items()}))").stdout
            )
            whole = json.loads(_ok(k, "print(json.dumps(statistics.median(_whole)))").stdout)
            steps = {n: round(v * 1e6, 2) for n, v in got.items()}
            results[kind] = {"steps_us": steps, "fire_us": round(whole * 1e6, 1)}
    rows = [
        [label, results["non-durable"]["steps_us"].get(label), results["durable"]["steps_us"].get(label)]
        for label, _, _ in STEPS
    ]
    rows.append(["whole fire (the bridge's wake-up)", results["non-durable"]["fire_us"], results["durable"]["fire_us"]])
    say(table(["step", "µs, non-durable", "µs, durable"], rows))
    targets.check(
        "steps", "whole fire of an empty job, non-durable (µs, median)", results["non-durable"]["fire_us"],
        "printed (a budget to watch)", None,
    )  # fmt: skip
    return results


def _ok(k: Kernel, code: str, timeout: float = 120) -> Any:
    r = k.execute(code, timeout=timeout)
    if r.status != "ok":
        raise RuntimeError(f"steps: {code[:60]!r} failed: {r.ename}: {r.evalue}")
    return r
