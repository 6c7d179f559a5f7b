"""One place for each fact (docs/development.md): a run-policy option declared in core/options.py alone
reaches create, the option parser and its usage, the durable store, a kernel's restart and %cron list.
The option here is made up, and declared in the notebook's own first cell."""

from __future__ import annotations

from pathlib import Path

from kernelutil import SCHED, Kernel, kernel_env, ok, text

DECLARE = """
from loopal_ipy.core.errors import LimitError
from loopal_ipy.core.options import OPTIONS, Option, register

def _check(value, recurring):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 60:
        raise LimitError(f"jitter must be 0 to 60 seconds, got {value!r}; e.g. --jitter 5")
    return float(value)

if "jitter" not in OPTIONS:
    register(Option(name="jitter", flag="--jitter", default=None, check=_check, parse=float, takes="seconds",
                    example="5", shown=lambda job: None if job.jitter is None else f"jitter {job.jitter:g} s"))
%load_ext loopal_ipy
import loopal_ipy
"""


def test_a_field_declared_in_the_registry_alone_goes_everywhere(tmp_path: Path) -> None:
    env = kernel_env(tmp_path, LOOPAL_SESSION_ID="registry")
    with Kernel(env=env) as k:
        ok(k, DECLARE)
        said = text(ok(k, '%cron create --durable --jitter 5 --name jittery "@hourly" x = 1'))
        assert said.startswith("created durable"), said
        assert k.evaluate(f"{SCHED}.get('jittery').jitter") == 5.0
        assert "jitter 5 s" in text(ok(k, "%cron list"))
        r = k.execute('%cron create --jitter 99 "@hourly" x = 2')  # the option's own check, one line
        assert r.status == "error" and "jitter must be 0 to 60 seconds" in f"{r.stderr}{r.evalue}"
        r = k.execute('%cron create --jitter soon "@hourly" x = 2')  # the parser, from the registry
        assert r.status == "error" and "--jitter takes seconds, got 'soon'; e.g. --jitter 5" in f"{r.stderr}{r.evalue}"
        usage = text(ok(k, "%cron help")) + ok(k, "%cron help").stdout
        assert "[--jitter S]" in usage, usage
        said = text(ok(k, '%cron create --durable --jitter 7 --name jittery "@hourly" x = 1'))
        assert "--jitter 5 → 7" in said, said  # a re-run create says what changed
        ok(k, "%cron edit jittery --jitter 2")
        assert k.evaluate(f"{SCHED}.get('jittery').jitter") == 2.0
        k.restart()
        ok(k, DECLARE)
        assert k.evaluate(f"{SCHED}.get('jittery').jitter") == 2.0  # saved, and back after the restart
        assert "jitter 2 s" in text(ok(k, "%cron list"))
