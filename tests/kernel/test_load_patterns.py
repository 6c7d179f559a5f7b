"""Loading and unloading in any pattern of cells leaves a scheduler that fires when the kernel is
idle (docs/running.md): Run All of durable.ipynb once left the %unload_ext cell counted as running for
good, and jobs fired only inside %cron wait."""

from __future__ import annotations

from pathlib import Path

import pytest
from kernelutil import Kernel, kernel_env, ok

PATTERNS = {
    "load": ["%load_ext loopal_ipy"],
    "load, unload, load (three cells)": ["%load_ext loopal_ipy", "%unload_ext loopal_ipy", "%load_ext loopal_ipy"],
    "unload and load in one cell": ["%load_ext loopal_ipy", "%unload_ext loopal_ipy\n%load_ext loopal_ipy"],
    "reload": ["%load_ext loopal_ipy", "%reload_ext loopal_ipy"],
    "reload, then unload, then load": [
        "%load_ext loopal_ipy",
        "%reload_ext loopal_ipy",
        "%unload_ext loopal_ipy",
        "x = 1",
        "%load_ext loopal_ipy",
    ],
    "silent unload between": ["%load_ext loopal_ipy", ("%unload_ext loopal_ipy", True), "%load_ext loopal_ipy"],
}


@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_jobs_fire_in_idle_time_after(tmp_path: Path, pattern: str) -> None:
    with Kernel(env=kernel_env(tmp_path)) as k:
        for cell in PATTERNS[pattern]:
            code, silent = cell if isinstance(cell, tuple) else (cell, False)
            r = k.execute(code, silent=silent)
            assert r.status == "ok", (code, r.ename, r.evalue)
        ok(k, "n = 0")
        ok(k, '%cron create "@every 1s" n += 1')
        k.read_iopub_for(4.5)  # idle: no cell, no %cron wait
        fired = k.evaluate("n")
        assert fired >= 3, f"{fired} fires in 4.5 idle seconds after {pattern}"
