"""A full disk under a live kernel (docs/durable.md), on a real 256 KiB tmpfs (mounting needs root, as
CI and this machine have: the test fails, never skips, without it). Saving fails, everything stays in
memory, and a graceful restart neither pauses a job that was not running nor leaves empty .bad- files."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from kernelutil import Kernel, ok, wait_for

from loopal_ipy import cli


def _fill(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def test_a_graceful_restart_on_a_full_disk_loses_nothing_it_saved(tmp_path: Path, tmpfs: Path) -> None:
    env = {"LOOPAL_HOME": str(tmpfs / "home"), "LOOPAL_SESSION_ID": "full", "IPYTHONDIR": str(tmp_path / "ipy")}
    print(cli.enable(cli.config_path("default", env["IPYTHONDIR"])), file=sys.stderr)
    folder = tmpfs / "home" / "sessions" / "full"
    with Kernel(env=env) as k:
        ok(k, "import loopal_ipy")
        ok(k, '%cron create --durable --name tick "@every 1s" print("x" * 900)')
        assert wait_for(lambda: k.evaluate("loopal_ipy.get_scheduler().get('tick').runs") >= 2, 10)
        _fill(tmpfs / "filler")
        # the journal's last page had room for a few more runs; then saving fails
        assert wait_for(lambda: k.evaluate("loopal_ipy.get_scheduler().unsaved()") is not None, 30)
        runs = k.evaluate("loopal_ipy.get_scheduler().get('tick').runs")
        assert wait_for(lambda: k.evaluate("loopal_ipy.get_scheduler().get('tick').runs") >= runs + 2, 10)
        k.restart()  # graceful: the kernel exits cleanly, the disk still full
        time.sleep(1)
        ok(k, "import loopal_ipy")
        assert k.evaluate("loopal_ipy.get_scheduler().get('tick').paused") is False
        said = ok(k, "%cron session").execute_result["text/plain"]
        assert "running when its kernel stopped" not in said, said
        bad = [p.name for p in folder.iterdir() if ".bad-" in p.name and p.stat().st_size == 0]
        assert bad == [], bad
