"""Edges of the notebook's lifecycle a hostile review found, each run in a fresh interpreter (an in-process
shell posing as a kernel): a held interrupt across %reload_ext, a blocking wait, a SIGTERM the job swallows,
waits for a running or retrying job, and this kernel's own session across an unload (docs/running.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PRELUDE = """
import asyncio, os, sys, time, types
from IPython.core.interactiveshell import InteractiveShell
sh = InteractiveShell.instance()
sh.kernel = types.SimpleNamespace()
"""


def run(
    tmp_path: Path, body: str, session: str | None = "t", home: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOOPAL_HOME": home or str(tmp_path / "home"), "IPYTHONDIR": str(tmp_path / "ipython")}
    env.pop("LOOPAL_SESSION_ID", None)
    env.pop("JPY_SESSION_NAME", None)
    if session is not None:
        env["LOOPAL_SESSION_ID"] = session
    code = PRELUDE + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


def test_a_reload_while_an_interrupt_is_held_decides_it_and_leaves_nothing_running(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        """
        CODE = "import os, signal, time; os.kill(os.getpid(), signal.SIGINT); time.sleep(0.5)"
        async def main():
            sh.run_line_magic("load_ext", "loopal_ipy")
            sh.run_line_magic("cron", f'create --durable --name j "@every 1s" {CODE}')
            b = sh._loopal_ipy["bridge"]
            sh.events.trigger("post_execute")
            while not b._stopping:
                await asyncio.sleep(0.05)
            sh.run_line_magic("reload_ext", "loopal_ipy")
            b2 = sh._loopal_ipy["bridge"]
            sh.events.trigger("post_execute")
            await asyncio.sleep(2.5)
            j = b2.find("j")
            print(j.paused, j.running, b2.running_ids(), [r.status for r in j.history])
            sh.run_line_magic("unload_ext", "loopal_ipy")
        asyncio.run(main())
    """,
    )
    assert done.stdout.strip() == "True False [] ['error']", (done.stdout, done.stderr[-2000:])


def test_a_blocking_wait_sees_an_interrupted_job_paused(tmp_path: Path) -> None:
    """%%time %cron wait holds the loop: the interrupt's verdict is decided by the wait itself."""
    done = run(
        tmp_path,
        """
        CODE = "import os, signal, time; os.kill(os.getpid(), signal.SIGINT); time.sleep(0.2)"

        async def main():  # a cell runs inside the kernel's loop, and this one holds it
            sh.run_line_magic("load_ext", "loopal_ipy")
            b = sh._loopal_ipy["bridge"]
            b.create("@every 1s", CODE, name="j")
            t0 = time.monotonic()
            try:
                b.wait_blocking("j", 2, 30)
                print("waited")
            except LookupError as e:
                print(f"{time.monotonic() - t0 < 10} {e}")
            sh.run_line_magic("unload_ext", "loopal_ipy")

        asyncio.run(main())
        """,
    )
    assert done.stdout.startswith("True job "), (done.stdout, done.stderr[-2000:])
    assert "is paused (interrupted (Kernel → Interrupt) while it ran)" in done.stdout


def test_a_sigterm_the_job_swallows_still_ends_the_kernel_and_the_job_stays_active(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        '''
        CODE = """import os, signal, time
        try:
            os.kill(os.getpid(), signal.SIGTERM); time.sleep(0.5)
        except:
            pass
        """
        async def main():
            sh.run_line_magic("load_ext", "loopal_ipy")
            b = sh._loopal_ipy["bridge"]
            b.create("@every 1s", CODE, name="j", durable=True)
            sh.events.trigger("post_execute")
            for _ in range(100):
                await asyncio.sleep(0.05)
            print("STILL ALIVE")
        asyncio.run(main())
    ''',
    )
    assert done.returncode == -signal.SIGTERM and "STILL ALIVE" not in done.stdout, (done.returncode, done.stdout)
    after = run(
        tmp_path,
        """
        sh.run_line_magic("load_ext", "loopal_ipy")
        j = sh._loopal_ipy["bridge"].find("j")
        print(j.paused, j.history[-1].error.startswith("ended by SIGTERM"))
    """,
    )
    assert after.stdout.strip().endswith("False True"), (after.stdout, after.stderr[-2000:])


@pytest.mark.parametrize("how", ["running", "retrying"])
def test_a_wait_for_a_job_running_or_retrying_now_waits_for_that_run(tmp_path: Path, how: str) -> None:
    done = run(
        tmp_path,
        f'''
        from loopal_ipy.kernel import waiting
        sh.run_line_magic("load_ext", "loopal_ipy")
        b = sh._loopal_ipy["bridge"]
        job = b.create("@daily", "pass", name="slow", retries=3, retry_delay=30)
        if "{how}" == "running":
            b.core.start_manual("slow")
        else:
            from loopal_ipy.core.job import Run
            b.core.start_manual("slow")
            b.core.finish(job, Run(started_at=b.now(), status="error", error="boom", trigger="schedule"))
        print(round(waiting._default_timeout(b, job, 1)))
        b.core.let_go(job)
        sh.run_line_magic("unload_ext", "loopal_ipy")
    ''',
    )
    assert done.stdout.strip() == ("30" if how == "running" else "60"), (done.stdout, done.stderr[-2000:])


def test_this_kernels_own_session_survives_an_unload_and_a_late_load(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        """
        sh.run_line_magic("load_ext", "loopal_ipy")
        sh.run_line_magic("cron", 'create --durable --name keeper "@hourly" pass')
        d = sh._loopal_ipy["bridge"].store.store.directory
        sh.run_line_magic("unload_ext", "loopal_ipy")
        old = time.time() - 120
        os.utime(d, (old, old))  # loaded again more than a minute later
        sh.run_line_magic("load_ext", "loopal_ipy")
        print([j.name for j in sh._loopal_ipy["bridge"].jobs()], d.exists())
    """,
        session=None,
    )
    assert done.stdout.strip().endswith("['keeper'] True"), (done.stdout, done.stderr[-2000:])


def test_a_reload_finds_this_kernels_session_in_the_temp_fallback(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    done = run(
        tmp_path,
        """
        sh.run_line_magic("load_ext", "loopal_ipy")
        sh.run_line_magic("cron", 'create --durable --name keeper "@hourly" pass')
        b = sh._loopal_ipy["bridge"]
        b.flush()
        first = b.store.store.directory
        sh.run_line_magic("reload_ext", "loopal_ipy")
        b2 = sh._loopal_ipy["bridge"]
        print([j.name for j in b2.jobs()], b2.store.store.directory == first)
        b2.at_exit()
        print(first.exists())
    """,
        session=None,
        home=str(tmp_path / "afile" / "home"),
    )
    assert done.stdout.strip().endswith("['keeper'] True\nFalse"), (done.stdout, done.stderr[-2000:])


def test_unloading_puts_back_another_tools_way_of_showing_usage_errors(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        """
        def mine(exc):
            print("mine")
        sh.show_usage_error = mine
        sh.run_line_magic("load_ext", "loopal_ipy")
        print(sh.show_usage_error is mine)
        sh.run_line_magic("unload_ext", "loopal_ipy")
        print(sh.show_usage_error is mine)
        """,
    )
    assert done.stdout.split() == ["False", "True"], (done.stdout, done.stderr[-2000:])
