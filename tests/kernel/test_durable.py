"""Durable jobs across real kernel restarts, autoload, and two kernels on one session (docs/durable.md)."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest
from kernelutil import Kernel, wait_for

from loopal_ipy import cli

pytestmark = pytest.mark.kernel

RECORD = (
    "import os, loopal_ipy\n"
    "with open({path!r}, 'a') as f:\n"
    '    f.write(f"{{os.getpid()}} {{loopal_ipy.get_scheduler().get({name!r}).last_fired.isoformat()}}\\n")'
)


def lines(path: Path) -> list[tuple[int, str]]:
    if not path.exists():
        return []
    return [(int(a), b) for a, b in (line.split() for line in path.read_text().splitlines())]


def env_for(tmp_path: Path, session: str = "durable-test") -> dict[str, str]:
    return {"LOOPAL_HOME": str(tmp_path / "home"), "LOOPAL_SESSION_ID": session, "IPYTHONDIR": str(tmp_path / "ipy")}


def test_restart_brings_back_exactly_the_durable_jobs(tmp_path: Path) -> None:
    out = tmp_path / "fires.txt"
    with Kernel(env=env_for(tmp_path)) as k:
        assert k.execute("%load_ext loopal_ipy").status == "ok"
        r = k.execute('%%cron create --durable --name keep "@every 1s"\n' + RECORD.format(path=str(out), name="keep"))
        assert r.status == "ok", r.evalue
        assert k.execute('%cron create --name gone "@every 1s" pass').status == "ok"
        assert k.execute('%cron create --durable --once --name later "@every 1h" pass').status == "ok"
        before = k.evaluate("{j.name: (j.id, j.code) for j in __import__('loopal_ipy').get_scheduler().jobs()}")
        assert wait_for(lambda: len(lines(out)) >= 2, 10)
        k.restart()
        loaded = k.execute("%load_ext loopal_ipy")
        assert "restored 2 durable jobs for session durable-test" in loaded.stdout
        after = k.evaluate("{j.name: (j.id, j.code) for j in __import__('loopal_ipy').get_scheduler().jobs()}")
        assert after == {"keep": before["keep"], "later": before["later"]}
        n = len(lines(out))
        assert wait_for(lambda: len(lines(out)) >= n + 2, 10), "the restored job did not fire again"
        occurrences = [occ for _, occ in lines(out)]
        assert len(occurrences) == len(set(occurrences)), "an occurrence fired twice"


def test_cron_home_setting_moves_the_store(tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    with Kernel(env=env_for(tmp_path, "homed")) as k:
        assert k.execute(f"%config Cron.home = {str(home)!r}\n%load_ext loopal_ipy").status == "ok"
        assert k.execute('%cron create --durable "@daily" pass').status == "ok"
        k.execute("pass")  # the save runs once the creating cell has yielded
        info = k.execute("%cron session").execute_result["text/plain"]
        assert f"store:   {home}/sessions/homed/cron.json" in info
        assert wait_for(lambda: (home / "sessions" / "homed" / "cron.json").exists(), 5)
        assert not (tmp_path / "home" / "sessions" / "homed").exists()


def test_a_missed_one_shot_is_dropped_and_reported(tmp_path: Path) -> None:
    env = env_for(tmp_path, "missed")
    with Kernel(env=env) as k:
        k.execute("%load_ext loopal_ipy")
        assert k.execute('%cron create --durable --once --name soon "@every 10s" pass').status == "ok"
        assert k.execute('%cron create --durable --name tick "@every 1s" pass').status == "ok"
        due = k.evaluate("__import__('loopal_ipy').get_scheduler().get('soon').next_fire.timestamp()")
    time.sleep(max(0.0, due - time.time()) + 1)  # no kernel runs while the one-shot comes due
    with Kernel(env=env) as k:
        r = k.execute("%load_ext loopal_ipy")
        assert "restored 1 durable job for session missed" in r.stdout
        assert "dropped 1 (" in r.stdout and "soon" in r.stdout
        assert "missed occurrences not caught up" in r.stdout
        names = k.evaluate("[j.name for j in __import__('loopal_ipy').get_scheduler().jobs()]")
        assert names == ["tick"]
        footer = k.execute("%cron list").execute_result["text/plain"]
        assert "dropped" in footer and "missed" in footer
        gone = k.execute("%cron log soon")
        assert gone.ename == "UsageError" and re.match(
            r"^job soon has no log: \w{8} \(soon\) dropped at load: ", gone.evalue
        )
        job_id = gone.evalue.split(": ")[1].split()[0]
        assert k.execute("%cron session elsewhere").status == "ok"  # that load drops nothing
        for key in ("soon", job_id):  # the reason outlives the load that found it
            again = k.execute(f"%cron log {key}")
            assert again.ename == "UsageError" and f"{job_id} (soon) dropped at load: " in again.evalue, again.evalue


def test_enable_makes_a_restarted_kernel_fire_with_no_cell(tmp_path: Path) -> None:
    out = tmp_path / "fires.txt"
    env = env_for(tmp_path, "autoload")
    print(cli.enable(cli.config_path("default", env["IPYTHONDIR"])), file=sys.stderr)
    with Kernel(env=env) as k:
        assert k.evaluate("'loopal_ipy' in get_ipython().extension_manager.loaded") is True
        r = k.execute('%%cron create --durable --name auto "@every 1s"\n' + RECORD.format(path=str(out), name="auto"))
        assert r.status == "ok", r.evalue
        assert wait_for(lambda: lines(out), 10)
        k.restart()
        n = len(lines(out))
        # no execute request after the restart: the kernel loaded the extension itself
        assert wait_for(lambda: len(lines(out)) >= n + 2, 15), "the durable job did not fire after restart"


def test_two_kernels_one_session_never_both_fire_and_the_second_takes_over(tmp_path: Path) -> None:
    out = tmp_path / "fires.txt"
    env = env_for(tmp_path, "shared")
    with Kernel(env=env) as a, Kernel(env=env) as b:
        a.execute("%load_ext loopal_ipy")
        r = a.execute(
            '%%cron create --durable --name shared "@every 1s"\n' + RECORD.format(path=str(out), name="shared")
        )
        assert r.status == "ok", r.evalue
        a.execute("import time; time.sleep(0.2)")
        loaded = b.execute("%load_ext loopal_ipy")
        assert "is owned by pid" in loaded.stdout
        refused = b.execute('%cron create --durable "@every 1s" pass')
        assert refused.status == "error" and refused.traceback[0].startswith("UsageError: session shared is owned by")
        pid_a = a.evaluate("__import__('os').getpid()")
        pid_b = b.evaluate("__import__('os').getpid()")
        # The window in which B must not fire is proved long enough by A's own fires in it.
        seen = len(lines(out))
        assert wait_for(lambda: len(lines(out)) >= seen + 2, 15), "A did not fire twice more"
        assert {pid for pid, _ in lines(out)} == {pid_a}
        a.km.shutdown_kernel(now=True)
        gone = time.monotonic()
        assert wait_for(lambda: any(pid == pid_b for pid, _ in lines(out)), 12), "no takeover"
        took = time.monotonic() - gone
        print(f"takeover after {took:.1f} s", file=sys.stderr)
        assert took <= 10.0, f"takeover took {took:.1f} s"
        occurrences = [occ for _, occ in lines(out)]
        assert len(occurrences) == len(set(occurrences)), "an occurrence fired in both kernels"
        data = json.loads((tmp_path / "home" / "sessions" / "shared" / "cron.json").read_text())
        assert [j["name"] for j in data["jobs"]] == ["shared"]


def test_a_kernel_nothing_names_gets_a_session_of_its_own(tmp_path: Path) -> None:
    """papermill / nbconvert kernels: no notebook path, a tmp connection file (docs/durable.md)."""
    env = {**env_for(tmp_path), "LOOPAL_SESSION_ID": "", "JPY_SESSION_NAME": ""}
    with Kernel(env=env) as k:
        loaded = k.execute("%load_ext loopal_ipy")
        assert loaded.status == "ok" and loaded.stdout == "", loaded.stdout  # nothing to say, nothing on disk
        assert not (tmp_path / "home" / "sessions").exists()
        r = k.execute('%cron create --durable --name d "@every 1s" x = 1')
        assert r.status == "ok", r.evalue
        assert "of this kernel only" in r.stderr and "will not come back in a new kernel" in r.stderr
        again = k.execute('%cron create --durable "@hourly" pass')
        assert "this kernel only" not in again.stderr  # announced once
        info = k.execute("%cron session").execute_result["text/plain"]
        m = re.search(r"session: (kernel-run-[0-9]+-[0-9a-f]{8}) \(from this kernel only\)", info)
        assert m, info
        folder = tmp_path / "home" / "sessions" / m.group(1)
        assert wait_for(lambda: (folder / "cron.json").exists(), 5)
        assert k.execute("%reload_ext loopal_ipy").status == "ok"  # same kernel: same session, jobs back
        names = k.evaluate("sorted(str(j.name) for j in __import__('loopal_ipy').get_scheduler().jobs())")
        assert names == ["None", "d"]
    assert not folder.exists(), "a session of one kernel only was left on disk after it exited"


def test_opening_a_notebook_leaves_nothing_on_disk(tmp_path: Path) -> None:
    env = {**env_for(tmp_path, ""), "JPY_SESSION_NAME": str(tmp_path / "viewer.ipynb")}
    with Kernel(env=env) as k:
        assert k.execute("%load_ext loopal_ipy").status == "ok"
        assert k.execute('%cron create "@every 1s" x = 1\n%cron list').status == "ok"
        assert "none yet" in k.execute("%cron session").execute_result["text/plain"]
    assert not (tmp_path / "home" / "sessions").exists()
