"""Threads reach the scheduler (docs/kernel.md): ipykernel 7 subshells run cells on threads of their own,
and JupyterLab sends widget clicks over subshells; a job may start threads that call the API.
Whatever comes from another thread crosses over to the kernel's loop, and a subshell cell is busy."""

from __future__ import annotations

import time

import pytest
from kernelutil import SCHED, Kernel, create, ok, wait_for


def _ipykernel_major(k: Kernel) -> int:
    return int(k.evaluate("__import__('ipykernel').__version__").split(".")[0])


def _subshell(k: Kernel) -> str:
    assert k.kc is not None
    msg = k.kc.session.msg("create_subshell_request", {})
    k.kc.control_channel.send(msg)
    reply = k.kc.get_control_msg(timeout=10)
    assert reply["content"]["status"] == "ok", reply
    return reply["content"]["subshell_id"]


def _run_in(k: Kernel, subshell: str, code: str, timeout: float = 30) -> dict:
    """Run ``code`` as a cell in ``subshell``; its execute_reply's content."""
    assert k.kc is not None
    content = {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False}
    msg = k.kc.session.msg("execute_request", content)
    msg["header"]["subshell_id"] = subshell
    k.kc.shell_channel.send(msg)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        reply = k.kc.get_shell_msg(timeout=end - time.monotonic())
        if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            return reply["content"]
    raise TimeoutError(code)


@pytest.mark.subshells
def test_jobs_keep_firing_after_a_subshell_cell_and_never_during_one(kernel: Kernel) -> None:
    assert _ipykernel_major(kernel) >= 7, "subshells came with ipykernel 7: run this with -m 'not subshells' on 6"
    sub = _subshell(kernel)
    ok(kernel, "n = 0")
    create(kernel, '%cron create "@every 1s" n += 1')
    assert wait_for(lambda: kernel.evaluate("n") >= 1, 10)
    reply = _run_in(kernel, sub, "during = [n]\ntime.sleep(3)\nduring.append(n)")
    assert reply["status"] == "ok", reply
    kernel.read_iopub_for(10)  # no request to the main shell for 10 s: only the loop's own timer
    first, last = kernel.evaluate("during")
    assert last == first, f"the job fired {last - first} time(s) while the subshell cell ran"
    fired = kernel.evaluate("n") - last
    assert fired >= 8, f"{fired} fires in the 10 s after a subshell cell"


def test_api_calls_from_a_thread_take_effect_on_the_loop(kernel: Kernel) -> None:
    ok(kernel, "n = 0")
    jid = create(kernel, '%cron create --name t "@every 1s" n += 1')
    ok(kernel, f"{SCHED}.pause({jid!r})")
    ok(kernel, "import threading")
    ok(kernel, f"threading.Thread(target=lambda: {SCHED}.resume({jid!r})).start()")
    kernel.read_iopub_for(0.5)
    before = kernel.evaluate("n")
    # The resume must wake the sleeping loop by itself (else it sleeps up to 60 s); nothing here asks it.
    kernel.read_iopub_for(10)
    assert kernel.evaluate("n") - before >= 3
    ok(kernel, f"threading.Thread(target=lambda: {SCHED}.run_now({jid!r})).start()")
    ran_now = f"any(r.trigger == 'run-now' for r in {SCHED}.get({jid!r}).history)"  # scheduled runs go on too
    assert wait_for(lambda: kernel.evaluate(ran_now), 30)
    main = kernel.evaluate(f"[r.output for r in {SCHED}.get({jid!r}).history]")
    assert all("Traceback" not in o for o in main), main
    ok(kernel, "import threading as _t\nwho = []")
    make = f"{SCHED}.create('@every 1s', 'who.append(_t.current_thread().name)', once=True)"
    ok(kernel, make)
    assert wait_for(lambda: kernel.evaluate("who") == ["MainThread"], 30)
    ok(kernel, f"threading.Thread(target=lambda: {make}).start()")
    assert wait_for(lambda: kernel.evaluate("who") == ["MainThread", "MainThread"], 30), kernel.evaluate("who")
