"""The type checker is real: mypy, as scripts/test.sh runs it (pyproject.toml's ``[tool.mypy]``), fails on a
wrong type against the package and passes the same code without it; strict on core/ and storage/ only.

mypy is a test dependency (the ``test`` extra): without it these fail, never skip.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2]
CONFIG = SRC / "pyproject.toml"

GOOD = """\
from datetime import UTC, datetime

from loopal_ipy.core.job import CronJob
from loopal_ipy.core.schedule import parse_schedule

job = CronJob.from_dict({})
name: str | None = job.name
schedule = parse_schedule("@every 5m", "UTC", anchor=datetime(2026, 1, 1, tzinfo=UTC))
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for this file's runs: the first reads the package, the others reuse it."""
    return tmp_path_factory.mktemp("mypy-cache")


def mypy(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m mypy`` with the repository's configuration, from its root (so ``loopal_ipy`` is this one)."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(CONFIG), "--cache-dir", str(cache), *args],
        capture_output=True,
        text=True,
        cwd=SRC,
        timeout=120,
    )


def check(cache: Path, tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "uses_loopal.py"
    path.write_text(source)
    return mypy(cache, str(path))


def test_the_code_without_the_wrong_line_passes(cache: Path, tmp_path: Path) -> None:
    done = check(cache, tmp_path, GOOD)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found in 1 source file" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("wrong", "said"),
    [
        (
            "count: int = job.name\n",
            'Incompatible types in assignment (expression has type "str | None", variable has type "int")  '
            "[assignment]",
        ),
        (
            'later = parse_schedule("@every 5m", "UTC", anchor="2026-01-01T00:00:00Z")\n',
            'Argument "anchor" to "parse_schedule" has incompatible type "str"; expected "datetime | None"  [arg-type]',
        ),
    ],
    ids=["str-or-None-as-int", "str-as-datetime"],
)
def test_a_wrong_type_fails_the_check(cache: Path, tmp_path: Path, wrong: str, said: str) -> None:
    done = check(cache, tmp_path, GOOD + wrong)
    assert done.returncode == 1, done.stdout + done.stderr
    line = len(GOOD.splitlines()) + 1
    assert f"uses_loopal.py:{line}: error: {said}" in done.stdout, done.stdout + done.stderr
    assert "Found 1 error in 1 file" in done.stdout, done.stdout


UNTYPED = "\n\ndef _untyped(value):\n    return value\n"


@pytest.mark.parametrize(
    ("module", "strict"),
    [("core/errors.py", True), ("storage/atomic.py", True), ("kernel/face.py", False), ("ui/render.py", False)],
)
def test_only_core_and_storage_are_strict(cache: Path, tmp_path: Path, module: str, strict: bool) -> None:
    """A function without annotations, shadowing a real module of the package (the file itself untouched)."""
    real = SRC / "loopal_ipy" / module
    shadow = tmp_path / real.name
    shadow.write_text(real.read_text() + UNTYPED)
    done = mypy(cache, "--shadow-file", str(real), str(shadow), str(real))
    if strict:
        assert done.returncode == 1, done.stdout + done.stderr
        assert "error: Function is missing a type annotation  [no-untyped-def]" in done.stdout, done.stdout
    else:
        assert done.returncode == 0, done.stdout + done.stderr
