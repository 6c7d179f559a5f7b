"""Owners and limits that are facts (docs/durable.md): a lost lock stops the owner's durable jobs, the
store is never recreated without the lock, and a policy limit at load never loses a job."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from kernelutil import Kernel, ok, wait_for
from test_durable import RECORD, env_for, lines

from loopal_ipy import cli


def test_a_raised_max_jobs_survives_a_restart(tmp_path: Path) -> None:
    env = env_for(tmp_path, "many")
    print(cli.enable(cli.config_path("default", env["IPYTHONDIR"])), file=sys.stderr)
    with Kernel(env=env) as k:
        ok(k, "%load_ext loopal_ipy")
        ok(k, "%config Cron.max_jobs = 60")
        make = "loopal_ipy.get_scheduler().create('@hourly', f'x = {i}', durable=True)"
        ok(k, f"import loopal_ipy\nfor i in range(55): {make}")
        k.restart()
        ok(k, "%load_ext loopal_ipy")
        ok(k, "%config Cron.max_jobs = 60")
        ok(k, "import loopal_ipy")
        jobs = k.evaluate("[j.paused for j in loopal_ipy.get_scheduler().jobs()]")
        assert len(jobs) == 55 and not any(jobs), jobs
        home = tmp_path / "home" / "sessions" / "many"
        assert not list(home.glob("cron.json.bad-*")), list(home.iterdir())


@pytest.mark.parametrize("remove", ["lock", "folder"])
def test_a_lost_lock_never_makes_two_owners(tmp_path: Path, remove: str) -> None:
    out = tmp_path / "fires.txt"
    env = env_for(tmp_path, "shared")
    folder = tmp_path / "home" / "sessions" / "shared"
    with Kernel(env=env) as a:
        ok(a, "%load_ext loopal_ipy\nimport loopal_ipy")
        ok(a, '%%cron create --durable --name shared "@every 1s"\n' + RECORD.format(path=str(out), name="shared"))
        assert wait_for(lambda: len(lines(out)) >= 1, 10)
        if remove == "lock":
            for lock in folder.glob("cron.lock*"):
                lock.unlink()
        else:
            shutil.rmtree(folder)
        with Kernel(env=env) as b:
            ok(b, "%load_ext loopal_ipy")
            pid_a, pid_b = a.evaluate("__import__('os').getpid()"), b.evaluate("__import__('os').getpid()")
            b.read_iopub_for(0.5)
            start = len(lines(out))
            a.read_iopub_for(10)  # 10 s with both kernels alive
            firing = {pid for pid, _ in lines(out)[start:]}
            assert len(firing) <= 1, f"both kernels fired the durable job: {firing}"
            said_a = ok(a, "%cron session").execute_result["text/plain"]
            said_b = ok(b, "%cron session").execute_result["text/plain"]
            owners = [who for who, said in ((pid_a, said_a), (pid_b, said_b)) if "owner: this kernel" in said]
            assert len(owners) <= 1, (said_a, said_b)
            loser = said_a if pid_a not in owners else said_b
            assert "lock" in loser, loser  # the one that does not own says why
            # Never the store without its lock: whoever writes the session's files holds its lock file.
            assert (folder / "cron.lock").exists() or not (folder / "cron.json").exists(), list(folder.iterdir())
            events = a.evaluate("[e.message for e in loopal_ipy.get_scheduler().events if e.kind == 'store']")
            assert any(("was deleted" in m or "was replaced" in m) for m in events), events
