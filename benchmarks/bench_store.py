"""What the durable store costs per fire (docs/durable.md).

    python benchmarks/bench_store.py [--seconds 60] [--jobs 20] [--chars 5000]

A real kernel holds ``--jobs`` durable ``@every 1s`` jobs, each printing
``--chars`` characters a second, once with ASCII text and once with ``█``
(3 bytes in UTF-8). Over the window it reads the kernel's ``/proc/<pid>/io``
(``wchar``: every byte the process handed to write(); ``write_bytes``: what
reached the block layer), runs a trivial cell every 0.2 s for its latency, and
counts fires and missed ones (skips, coalesced, late beyond 1 s). The budget:
bytes written per minute ≤ 3 × the jobs' own output bytes + 4 KB per fire.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "tests" / "kernel"))
from kernelutil import Kernel  # noqa: E402

SETUP = """
import os, loopal_ipy
%load_ext loopal_ipy
_s = loopal_ipy.get_scheduler()
for _i in range({jobs}):
    _s.create("@every 1s", "print({char!r} * {chars})", durable=True)
os.getpid()
"""
COUNTS = """
import json as _json
_js = loopal_ipy.get_scheduler().jobs()
print(_json.dumps({"runs": sum(j.runs for j in _js), "skips": sum(j.skips for j in _js),
                   "coalesced": sum(j.coalesced for j in _js), "failures": sum(j.failures for j in _js),
                   "late": sum(1 for j in _js for r in j.history if r.occurrence and r.status == "ok"
                               and (r.started_at - r.occurrence).total_seconds() > 1.0)}))
"""


def read_io(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = int(value)
    return fields


def store_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in home.rglob("*") if p.is_file())


def measure(seconds: float, jobs: int, chars: int, char: str, root: Path) -> dict[str, Any]:
    """One window in one fresh kernel; every figure per minute where it is a rate."""
    root.mkdir(parents=True, exist_ok=True)
    env = {
        "LOOPAL_HOME": str(root / "home"),
        "IPYTHONDIR": str(root / "ipython"),
        "LOOPAL_SESSION_ID": "bench-store",
        "JPY_SESSION_NAME": "",
    }
    with Kernel(env=env) as k:
        r = k.execute(SETUP.format(jobs=jobs, chars=chars, char=char), timeout=60)
        if r.status != "ok":
            raise RuntimeError(f"setup failed: {r.ename}: {r.evalue}")
        pid = int((r.execute_result or {})["text/plain"])
        time.sleep(3)  # warm up: the first fires, the first saves
        before = json.loads(k.execute(COUNTS, timeout=30).stdout)
        io0, t0 = read_io(pid), time.monotonic()
        latencies = []
        while time.monotonic() - t0 < seconds:
            start = time.perf_counter()
            k.execute("1", timeout=30)
            latencies.append((time.perf_counter() - start) * 1000)
            time.sleep(0.2)
        io1, elapsed = read_io(pid), time.monotonic() - t0
        after = json.loads(k.execute(COUNTS, timeout=30).stdout)
        size = store_bytes(root / "home")
    per_min = 60.0 / elapsed
    fires = after["runs"] - before["runs"]
    output = fires * len((char * chars + "\n").encode())
    wchar = (io1["wchar"] - io0["wchar"]) * per_min
    budget = (3 * output + 4096 * fires) * per_min
    latencies.sort()
    return {
        "text": "ASCII" if char.isascii() else f"{char!r} (UTF-8 {len(char.encode())} bytes)",
        "seconds": round(elapsed, 1),
        "fires_per_min": round(fires * per_min),
        "expected_fires_per_min": jobs * 60,
        "missed": sum(after[k] - before[k] for k in ("skips", "coalesced")),
        "late_over_1s": after["late"],
        "failures": after["failures"] - before["failures"],
        "output_mb_per_min": round(output * per_min / 1e6, 2),
        "wchar_mb_per_min": round(wchar / 1e6, 2),
        "write_bytes_mb_per_min": round((io1["write_bytes"] - io0["write_bytes"]) * per_min / 1e6, 2),
        "budget_mb_per_min": round(budget / 1e6, 2),
        "within_budget": wchar <= budget,
        "store_mb": round(size / 1e6, 2),
        "cell_ms_p50": round(statistics.median(latencies), 1),
        "cell_ms_p90": round(latencies[int(0.9 * (len(latencies) - 1))], 1),
        "cell_ms_max": round(latencies[-1], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--chars", type=int, default=5000)
    ap.add_argument("--json", type=Path, help="also write the rows here")
    cfg = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, char in enumerate(("x", "█")):
            rows.append(measure(cfg.seconds, cfg.jobs, cfg.chars, char, Path(tmp) / str(i)))
    keys = list(rows[0])
    width = max(map(len, keys))
    print(f"{cfg.jobs} durable @every 1s jobs printing {cfg.chars:,} characters, {cfg.seconds:g} s windows")
    for key in keys:
        print(f"  {key:<{width}}  " + "  ".join(f"{row[key]!s:>24}" for row in rows))
    if cfg.json:
        cfg.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
