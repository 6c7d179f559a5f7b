"""loopal_ipy beside its peers, and a soak (docs/benchmarks.md).

One command, same machine, same run:

    python benchmarks/run.py [--quick] [--json PATH] [--soak-minutes M] [--only SECTIONS]

Sections (``--only lateness,idle,core,durable,soak,steps,batch``):

1. lateness  fire lateness p50/p99 of ``@every 1s`` jobs in real idle kernels:
             loopal_ipy vs APScheduler 3 ``AsyncIOScheduler`` (on the kernel's
             running loop, interval trigger 1 s) vs an anchored
             ``threading.Timer`` loop vs a bare ``loop.call_later`` chain (the
             floor), each in its own kernel started the same way.
2. idle      wake-ups and kernel CPU seconds over N s with 50 jobs due an hour
             away, in the same kernels plus a 1 s tick loop and a bare kernel.
3. core      the pure scheduler: per-fire overhead at 10 / 1,000 / 10,000 jobs,
             memory per job (tracemalloc), ``next_fires`` throughput.
4. durable   ``Store.load`` of a 10,000-job file and 1,000 durable creates in a
             real kernel, each beside a naive baseline.
5. soak      50 jobs firing every second for M minutes in a real kernel: RSS
             growth after warm-up, bounded history, max lateness, missed runs.
6. steps     one fire of an empty job, step by step (decision, save, guard,
             capture, exec, record, events, activity, re-arm), in a real kernel.
7. batch     a trivial cell's round trip, sent every 20 ms while 10,000 jobs are
             due at once (the first batch after a load), beside a bare kernel.

Prints a table per section (targets beside the figures, MET / NOT MET), and
writes everything as JSON (default benchmarks/results/latest.json; with
``--quick`` benchmarks/results/quick.json so a smoke run never overwrites the
real numbers). ``--quick`` runs every section on tiny sizes in about a minute
and a half: its verdicts only show that the command works. Needs psutil and
(for the APScheduler rows) ``apscheduler>=3.10,<4``: ``pip install -e .[bench]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "kernel"))
from harness import HERE, SECTIONS, Targets, fmt, machine, say, table
from kernelutil import Kernel
from section_batch import run_batch
from section_core import run_core
from section_durable import run_durable
from section_idle import run_idle
from section_lateness import run_lateness
from section_soak import run_soak
from section_steps import run_steps


# ---------------------------------------------------------------------- main
def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, ~90 s: proves the command works (CI)")
    ap.add_argument("--json", type=Path, default=None, help="where to write JSON (default results/latest.json)")
    ap.add_argument("--soak-minutes", type=float, default=None, help="soak length (default 10; 0.5 with --quick)")
    ap.add_argument("--idle", type=float, default=None, help="idle window in seconds (default 60; 3 with --quick)")
    ap.add_argument("--fires", type=int, default=None, help="fires per job for lateness (default 50; 2 with --quick)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    cfg = ap.parse_args(argv)
    q = cfg.quick
    cfg.only = [s.strip() for s in cfg.only.split(",") if s.strip()]
    bad = set(cfg.only) - set(SECTIONS)
    if bad:
        ap.error(f"unknown section(s) {sorted(bad)}; choose from {', '.join(SECTIONS)}")
    cfg.soak_minutes = cfg.soak_minutes if cfg.soak_minutes is not None else (0.5 if q else 10.0)
    cfg.idle = cfg.idle if cfg.idle is not None else (3.0 if q else 60.0)
    cfg.fires = cfg.fires if cfg.fires is not None else (2 if q else 50)
    cfg.late_jobs = 3
    cfg.core_sizes = [10, 100, 1000] if q else [10, 1000, 10000]
    cfg.core_fires = 2000 if q else 20000
    cfg.mem_jobs = 1000 if q else 10000
    cfg.nf_seconds = 0.1 if q else 0.5
    cfg.rehydrate_jobs = 300 if q else 10000
    cfg.creates = 100 if q else 1000
    cfg.trials = 1 if q else 7
    cfg.soak_jobs = 50
    cfg.sample_s = 2.0 if q else 5.0
    cfg.batch_jobs = 500 if q else 10000
    cfg.batch_probe_s = 2.0 if q else 5.0
    if cfg.json is None:
        cfg.json = HERE / "results" / ("quick.json" if q else "latest.json")
    return cfg


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="loopal-bench-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    cfg = parse(argv)
    info = machine()
    started = time.monotonic()
    say(f"loopal_ipy benchmarks{' (QUICK: tiny sizes, verdicts only show the command works)' if cfg.quick else ''}")
    say(f"machine: {info['nproc']} CPU(s), {info['cpu_model']}, {info['memory_gb']} GiB, {info['platform']}")
    say("python " + info["python"] + "; " + ", ".join(f"{k} {v}" for k, v in info["packages"].items()))
    targets = Targets()
    out: dict[str, Any] = {
        "quick": cfg.quick,
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "sections": {},
    }
    kernels: dict[str, Kernel] = {}
    with scratch() as root:
        try:
            if "lateness" in cfg.only:
                out["sections"]["lateness"] = run_lateness(cfg, root, targets, kernels)
            if "idle" in cfg.only:
                out["sections"]["idle"] = run_idle(cfg, root, targets, kernels)
        finally:
            for k in kernels.values():
                k.shutdown()
        if "core" in cfg.only:
            out["sections"]["core"] = run_core(cfg, targets)
        if "durable" in cfg.only:
            out["sections"]["durable"] = run_durable(cfg, root, targets)
        if "soak" in cfg.only:
            out["sections"]["soak"] = run_soak(cfg, root, targets)
        if "steps" in cfg.only:
            out["sections"]["steps"] = run_steps(cfg, root, targets)
        if "batch" in cfg.only:
            out["sections"]["batch"] = run_batch(cfg, root, targets)
    out["targets"] = targets.items
    out["elapsed_s"] = round(time.monotonic() - started, 1)
    say(f"\ntargets{' (QUICK run: sizes reduced, verdicts not meaningful)' if cfg.quick else ''}")
    say(
        table(
            ["section", "target", "measured", "verdict", "note"],
            [
                [t["section"], f"{t['what']}: {t['target']}", fmt(t["measured"], 3), t["verdict"], t["note"]]
                for t in targets.items
            ],
        )
    )
    missed = [t for t in targets.items if t["verdict"] == "NOT MET"]
    say(
        f"{len(targets.items) - len(missed)} of {len(targets.items)} targets met"
        + (": NOT MET: " + "; ".join(f"{t['what']} = {fmt(t['measured'], 3)}" for t in missed) if missed else "")
    )
    cfg.json.parent.mkdir(parents=True, exist_ok=True)
    cfg.json.write_text(json.dumps(out, indent=1, default=str) + "\n")
    say(f"elapsed {out['elapsed_s']:g} s; JSON written to {cfg.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
