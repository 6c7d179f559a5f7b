"""The functional core and the store never import IPython, ipykernel, ipywidgets or traitlets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
LOWER = ["errors", "clock", "schedule", "job", "scheduler", "atomic", "store", "session", "lock"]
FORBIDDEN = ("IPython", "ipykernel", "ipywidgets", "traitlets")


@pytest.mark.parametrize("module", LOWER)
def test_lower_layers_import_no_jupyter(module: str) -> None:
    if not (SRC / "loopal_ipy" / f"{module}.py").exists():
        pytest.fail(f"layer module {module}.py is missing")
    code = (
        f"import sys, json, importlib; importlib.import_module('loopal_ipy.{module}');"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    )
    assert json.loads(out.stdout) == []


def test_package_import_is_light() -> None:
    """`import loopal_ipy` (for next_fires outside a kernel) pulls in no IPython either."""
    code = "import sys, loopal_ipy; print([m for m in sys.modules if m.startswith(('IPython', 'ipykernel'))])"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == "[]"
