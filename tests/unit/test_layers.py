"""The layers: core ← storage ← kernel ← ui ← wiring, one folder each, and no Jupyter below the kernel.

The layer contract itself lives in pyproject.toml (``[tool.importlinter]``) and is kept by
import-linter (``lint-imports``, run by scripts/test.sh and here, where a wrong import is also
shown to fail it). What no linter checks stays here: no import circle at all, a job's state
changed only in the core, surfaces that never reach the core behind the face, small files.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from loopal_ipy.core.job import CronJob
from loopal_ipy.core.options import OPTIONS

SRC = Path(__file__).resolve().parents[2]
PACKAGE = SRC / "loopal_ipy"
LAYERS = ("core", "storage", "kernel", "ui")
FORBIDDEN = ("IPython", "ipykernel", "ipywidgets", "traitlets")
LINT = Path(sys.executable).parent / "lint-imports"


def modules(layer: str) -> list[str]:
    return sorted(p.stem for p in (PACKAGE / layer).glob("*.py") if p.stem != "__init__")


def test_every_module_lives_in_a_layer_folder() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "_extension.py", "cli.py"], top
    for layer in LAYERS:
        assert (PACKAGE / layer / "__init__.py").read_text().startswith('"""'), f"{layer}/ says what it holds"


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--config", str(SRC / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )


def test_lint_imports_keeps_the_contracts() -> None:
    done = _lint(SRC)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "3 kept, 0 broken" in done.stdout, done.stdout[-1000:]


@pytest.mark.parametrize(
    ("module", "wrong", "broken"),
    [
        ("core/job.py", "from ..kernel import bridge", "Layers"),
        ("storage/store.py", "import IPython", "No Jupyter below the kernel"),
        ("ui/magics.py", "from . import widget", "do not import each other"),
    ],
)
def test_lint_imports_fails_on_a_wrong_import(tmp_path: Path, module: str, wrong: str, broken: str) -> None:
    shutil.copytree(PACKAGE, tmp_path / "loopal_ipy", ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / "loopal_ipy" / module
    path.write_text(path.read_text() + f"\n{wrong}  # noqa\n")
    done = _lint(tmp_path)
    assert done.returncode != 0, done.stdout[-2000:]
    said = [line for line in done.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(broken in line for line in said), done.stdout[-2000:]


def _cycles(graph: grimp.ImportGraph, names: list[str]) -> list[list[str]]:
    """Every import circle among ``names`` (a depth-first search for back edges)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for dep in sorted(graph.find_modules_directly_imported_by(module)):
            if dep not in state and dep in names:
                visit(dep)
            elif state.get(dep) == 1:
                found.append([*stack[stack.index(dep) :], dep])
        stack.pop()
        state[module] = 2

    for module in names:
        if module not in state:
            visit(module)
    return found


def test_no_import_circle_in_the_package() -> None:
    """Checked on grimp's graph (import-linter's own), TYPE_CHECKING imports included."""
    graph = grimp.build_graph("loopal_ipy")
    names = sorted(m for m in graph.modules if m.startswith("loopal_ipy."))
    assert len(names) > 40, names
    assert _cycles(graph, names) == []


def test_the_circle_finder_finds_one() -> None:
    graph = grimp.ImportGraph()
    for name in ("a", "b", "c"):
        graph.add_module(name)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="c")
    graph.add_import(importer="c", imported="a")
    assert _cycles(graph, ["a", "b", "c"]) == [["a", "b", "c", "a"]]


@pytest.mark.parametrize("module", [f"{layer}.{m}" for layer in ("core", "storage") for m in modules(layer)])
def test_lower_layers_import_no_jupyter(module: str) -> None:
    """At run time too (the linter reads the source): importing them loads no Jupyter module."""
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


@pytest.mark.parametrize("module", modules("ui"))
def test_surfaces_never_reach_the_core_behind_the_face(module: str) -> None:
    """The table, the magics and the text render talk to kernel.face.SchedulerFace only: no ``.core``."""
    tree = ast.parse((PACKAGE / "ui" / f"{module}.py").read_text())
    reached = sorted({n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in ("core", "_core")})
    assert reached == [], f"{module}.py reaches .core at lines {reached}"


def test_no_module_imports_croniter_and_the_package_does_not_require_it() -> None:
    """Cron semantics are the package's own (schedule.py): no croniter version can change what a schedule
    means, and loopal-ipy installs beside jupyter-scheduler, which pins croniter 1.4."""
    for path in sorted(PACKAGE.rglob("*.py")):
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


def test_functions_stay_small() -> None:
    """docs/development.md: every function is at most 50 lines (files are cut by concept, not by length)."""
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 50:
                    too_long.append(f"{path.name}: {node.name}() {length} lines")
    assert not too_long, too_long


# Every field, as the job declares them, and the run-policy options (core/options.py), its attributes too.
JOB_FIELDS = {f.name for f in dataclasses.fields(CronJob)} | set(OPTIONS)


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


OUTSIDE_CORE = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p.parent.name != "core")


@pytest.mark.parametrize("module", OUTSIDE_CORE)
def test_jobs_change_only_in_the_core(module: str) -> None:
    tree = ast.parse((PACKAGE / module).read_text())
    assert job_writes(tree) == [], f"{module}.py sets a job's field at lines {job_writes(tree)}; ask the core"


def test_a_job_write_outside_the_core_is_caught() -> None:
    """The checker itself, on the forms the store and the bridge used to write."""
    code = "job.paused = True\njob.runs += 1\njob.history.append(run)\nself.paused = True\nrow.value = 1\n"
    assert job_writes(ast.parse(code)) == [1, 2, 3]
