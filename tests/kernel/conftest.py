"""Fixtures for tests that drive real Jupyter kernels (see kernelutil.py).

Every test collected under tests/kernel is marked ``kernel`` (``-m "not kernel"``
skips the slow ones). The ``kernel`` fixture is a fresh kernel per test with
``%load_ext loopal_ipy`` already run, its store under the test's tmp_path, its
own IPython dir (a user profile that autoloads the extension cannot interfere)
and no session id (a durable create would use the kernel's own fallback session).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kernelutil import Kernel, kernel_env

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.kernel)


def start_loaded_kernel(tmp_path: Path) -> Kernel:
    k = Kernel(env=kernel_env(tmp_path))
    k.start()
    try:
        r = k.execute("%load_ext loopal_ipy")
        assert r.status == "ok", (r.ename, r.evalue, r.stderr)
        r = k.execute("import asyncio, sys, time, loopal_ipy")
        assert r.status == "ok", (r.ename, r.evalue, r.stderr)
        k.drain_iopub(quiet=0.1)
    except BaseException:
        k.shutdown()
        raise
    return k


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    """A fresh kernel with loopal_ipy loaded and asyncio/sys/time/loopal_ipy imported."""
    k = start_loaded_kernel(tmp_path)
    try:
        yield k
    finally:
        k.shutdown()


@pytest.fixture(scope="module")
def module_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    """Like ``kernel``, but one kernel shared by a module's tests (tables of cases)."""
    k = start_loaded_kernel(tmp_path_factory.mktemp("module-kernel"))
    try:
        yield k
    finally:
        k.shutdown()
