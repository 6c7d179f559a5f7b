"""What every benchmark section shares: formatting, targets, versions, the machine, kernels."""

from __future__ import annotations

import contextlib
import importlib.metadata
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "tests" / "kernel"))
from kernelutil import Kernel  # noqa: E402

SECTIONS = ("lateness", "idle", "core", "durable", "soak", "steps", "batch")


# ------------------------------------------------------------------ helpers
def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "—"
        if v != 0 and abs(v) < 10**-digits:
            return f"{v:.2g}"
        return f"{v:,.{digits}f}"
    return str(v)


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return "—"
    if a == 0:
        return "—" if b == 0 else "∞"
    return f"{b / a:.2f}x"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[c if isinstance(c, str) else fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        lines.append(
            "  "
            + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        )
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class Targets:
    """Every target with its measured figure and verdict."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def check(self, section: str, what: str, measured: Any, target: str, met: bool | None, note: str = "") -> str:
        verdict = "n/a" if met is None else ("MET" if met else "NOT MET")
        self.items.append(
            {"section": section, "what": what, "measured": measured, "target": target, "verdict": verdict, "note": note}
        )
        return verdict


def say(text: str = "") -> None:
    print(text, flush=True)


def versions() -> dict[str, str]:
    out = {}
    for name in (
        "loopal-ipy",
        "ipykernel",
        "ipython",
        "jupyter_client",
        "pyzmq",
        "tornado",
        "apscheduler",
        "psutil",
    ):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": versions(),
    }


def have_apscheduler() -> bool:
    try:
        import apscheduler  # noqa: F401
    except ImportError:
        return False
    return True


def kernel_env(root: Path, **extra: str) -> dict[str, str]:
    """Every benchmark kernel gets the same env: private store and IPython dir, no session."""
    root.mkdir(parents=True, exist_ok=True)
    return {
        "LOOPAL_HOME": str(root / "home"),
        "IPYTHONDIR": str(root / "ipython"),
        "LOOPAL_SESSION_ID": "",
        "JPY_SESSION_NAME": "",
        **extra,
    }


def must(k: Kernel, code: str, timeout: float = 60) -> None:
    r = k.execute(code, timeout=timeout)
    if r.status != "ok":
        raise RuntimeError(f"benchmark cell failed: {r.ename}: {r.evalue}\n{code}\n{''.join(r.traceback)[-2000:]}")
