"""Shared helpers for the in-process shell tests."""

from __future__ import annotations


def build_bridge(shell, home, session: str, warn=print):
    """A real KernelScheduler + DurableSession on a fresh (not running) asyncio loop."""
    import asyncio

    from loopal_ipy.core.clock import SystemClock
    from loopal_ipy.core.limits import Settings
    from loopal_ipy.core.scheduler import Scheduler
    from loopal_ipy.kernel.bridge import KernelScheduler
    from loopal_ipy.kernel.durable import DurableSession
    from loopal_ipy.kernel.runner import Runner

    loop = asyncio.new_event_loop()
    clock = SystemClock()
    core = Scheduler(clock, Settings(timezone="UTC"))
    durable = DurableSession(
        core,
        home=str(home),
        env={"LOOPAL_SESSION_ID": session},
        user_ns=shell.user_ns,
        connection_file=None,
        warn=warn,
        call_later=loop.call_later,
    )
    durable.open()
    bridge = KernelScheduler(shell, core, Runner(shell, clock), loop, store=durable)
    bridge.start()
    return loop, bridge, durable


def run_until(loop, predicate, timeout: float = 30.0, step: float = 0.05) -> None:
    """Let ``loop`` run until ``predicate()`` holds: waits on what happened, not on a guessed time,
    so a loaded machine only makes it slower. Fails with the timeout if it never holds."""
    import asyncio
    import time

    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, f"condition not met within {timeout:g} s"
        loop.run_until_complete(asyncio.sleep(step))
