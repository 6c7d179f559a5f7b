"""The layers: core ← store ← kernel ← surfaces ← wiring, and no Jupyter below the kernel.

Each module of the package sits in one layer and may import only from its own
layer or lower ones; a new module must be given a layer here. The core and the
store never import IPython, ipykernel, ipywidgets or traitlets.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2]
LOWER = [
    "errors",
    "clock",
    "cronfields",
    "schedule",
    "job",
    "events",
    "limits",
    "scheduler",
    "atomic",
    "store",
    "session",
    "lock",
    "slicing",
    "export",
]
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


LAYERS = {
    "core": [
        "errors",
        "clock",
        "cronfields",
        "schedule",
        "figures",
        "job",
        "events",
        "limits",
        "scheduler",
    ],  # pure: schedules, jobs, decisions
    # files; no IPython
    "store": ["atomic", "session", "lock", "journal", "loadrules", "storeread", "store", "slicing", "export"],
    "kernel": [
        "activity",
        "busy",
        "shown",
        "saving",
        "fdcapture",
        "capture",
        "stopper",
        "exits",
        "nested",
        "runner",
        "durable",
        "bridge",
        "config",
        "face",
        "hooks",
        "waiting",
        "graduate",
        "commands",
    ],  # the live kernel
    "surfaces": [
        "render",
        "cells",
        "logview",
        "magicargs",
        "magics",
        "tableparts",
        "widget",
        "alerts",
    ],  # what users see, type
    "wiring": ["_extension", "__init__", "cli"],  # puts it together
}
RANK = {module: rank for rank, modules in enumerate(LAYERS.values()) for module in modules}
NAMES = list(LAYERS)


def imports_of(path: Path) -> set[str]:
    """The package modules one file imports, in every form (``from .x``, ``from . import x``, absolute)."""
    deps: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".")
            if node.level == 1:
                deps.update([parts[0]] if node.module else [a.name for a in node.names])
            elif parts[0] == "loopal_ipy":
                deps.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            deps.update(a.name.split(".")[1] for a in node.names if a.name.startswith("loopal_ipy."))
    return deps


def wrong_arrows(graph: dict[str, set[str]]) -> list[str]:
    """Every import that points up a layer (or from or to a module with no layer)."""
    wrong = []
    for module, deps in sorted(graph.items()):
        if module not in RANK:
            wrong.append(f"{module}.py has no layer: add it to LAYERS")
            continue
        for dep in sorted(deps):
            if dep not in RANK:
                wrong.append(f"{module} imports {dep}, which has no layer")
            elif RANK[dep] > RANK[module]:
                wrong.append(
                    f"{module} ({NAMES[RANK[module]]}) imports {dep} ({NAMES[RANK[dep]]}): a layer may only "
                    "import its own or lower ones"
                )
    return wrong


def test_every_import_points_down_the_layers() -> None:
    graph = {p.stem: imports_of(p) for p in (SRC / "loopal_ipy").glob("*.py")}
    assert set(graph) == set(RANK), set(graph) ^ set(RANK)
    assert wrong_arrows(graph) == []


def test_a_wrong_arrow_is_caught() -> None:
    """The checker itself: a store that imports the bridge, a core that imports the store, a stray module."""
    graph = {"store": {"bridge"}, "scheduler": {"store"}, "newthing": set(), "magics": {"render", "job"}}
    assert wrong_arrows(graph) == [
        "newthing.py has no layer: add it to LAYERS",
        "scheduler (core) imports store (store): a layer may only import its own or lower ones",
        "store (store) imports bridge (kernel): a layer may only import its own or lower ones",
    ]
    tree = SRC / "loopal_ipy" / "store.py"
    assert {"job", "journal", "atomic"} <= imports_of(tree)


@pytest.mark.parametrize("module", LAYERS["surfaces"])
def test_surfaces_never_reach_the_core_behind_the_face(module: str) -> None:
    """The table, the magics and the text render talk to face.SchedulerFace only: no ``.core``."""
    tree = ast.parse((SRC / "loopal_ipy" / f"{module}.py").read_text())
    reached = sorted({n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in ("core", "_core")})
    assert reached == [], f"{module}.py reaches .core at lines {reached}"


def test_no_module_imports_croniter_and_the_package_does_not_require_it() -> None:
    """Cron semantics are the package's own (schedule.py): no croniter version can change what a schedule
    means, and loopal-ipy installs beside jupyter-scheduler, which pins croniter 1.4."""
    for path in sorted((SRC / "loopal_ipy").glob("*.py")):
        if path.name == "export.py":  # asks jupyter-scheduler's croniter, when it is installed, how it reads a job
            assert "except ImportError:" in path.read_text()
            continue
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not any(name.split(".")[0] == "croniter" for name in names), path.name
    pyproject = (SRC / "pyproject.toml").read_text()
    dependencies = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    assert "croniter" not in dependencies


def test_test_files_have_unique_names() -> None:
    """pytest imports test modules by base name here (no packages): two of one name stop the whole run."""
    names = [p.name for p in (SRC / "tests").rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_files_and_functions_stay_small() -> None:
    """README: every file of the package is at most 400 lines and every function at most 50."""
    too_long = []
    for path in sorted((SRC / "loopal_ipy").glob("*.py")):
        text = path.read_text()
        if len(text.splitlines()) > 400:
            too_long.append(f"{path.name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 50:
                    too_long.append(f"{path.name}: {node.name}() {length} lines")
    assert not too_long, too_long


JOB_FIELDS = {
    "id", "schedule", "code", "tz", "created_at", "name", "recurring", "durable", "paused", "last_fired",
    "next_fire", "runs", "failures", "skips", "coalesced", "history", "running", "timeout", "compiled",
}  # fmt: skip


def job_writes(tree: ast.AST) -> list[int]:
    """Lines that set a job's field (``x.paused = …``, ``x.runs += 1``, ``x.history.append(…)``) on anything
    but ``self``: a job's state may change only in the core (job.py's methods and the scheduler)."""
    lines = []
    for node in ast.walk(tree):
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AugAssign) else []
        )
        for t in targets:
            if isinstance(t, ast.Attribute) and t.attr in JOB_FIELDS and not _is_self(t.value):
                lines.append(node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
            "append", "appendleft", "clear", "extend", "pop", "popleft",
        ):  # fmt: skip
            owner = node.func.value
            if isinstance(owner, ast.Attribute) and owner.attr == "history" and not _is_self(owner.value):
                lines.append(node.lineno)
    return sorted(lines)


def _is_self(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


@pytest.mark.parametrize("module", [m for layer in NAMES[1:] for m in LAYERS[layer]])
def test_jobs_change_only_in_the_core(module: str) -> None:
    tree = ast.parse((SRC / "loopal_ipy" / f"{module}.py").read_text())
    assert job_writes(tree) == [], f"{module}.py sets a job's field at lines {job_writes(tree)}; ask the core"


def test_a_job_write_outside_the_core_is_caught() -> None:
    """The checker itself, on the forms the store and the bridge used to write."""
    code = "job.paused = True\njob.runs += 1\njob.history.append(run)\nself.paused = True\nrow.value = 1\n"
    assert job_writes(ast.parse(code)) == [1, 2, 3]
