"""A real ipykernel for tests, with every iopub message kept.

Why not nbclient: it collects only the output of the cell it is executing and
drops what a scheduled job sends under an earlier cell's parent, or under no
parent at all. Here every iopub message lands in one buffer: `execute` returns
the outputs of its own request, and `drain_iopub` hands back everything since
the last drain, so a test can assert that no stray `stream` appeared. Readiness
is checked without jupyter_client's `wait_for_ready`, which flushes (drops)
iopub — exactly the messages a job rehydrated after a restart would send.

The kernel runs on `python` (default: this interpreter) through a private
kernelspec, so a user-wide `python3` kernelspec can never pick another venv.
"""

from __future__ import annotations

import ast
import json
import os
import queue
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from jupyter_client import KernelManager
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpecManager

Msg = dict[str, Any]
_KERNEL_NAME = "loopal-test-kernel"


@dataclass
class ExecResult:
    """What one execute request produced, read from iopub and its reply."""

    msg_id: str
    status: str = ""  # "ok", "error" or "aborted", from execute_reply
    execution_count: int | None = None
    stdout: str = ""
    stderr: str = ""
    ename: str | None = None
    evalue: str | None = None
    traceback: list[str] = field(default_factory=list)
    displays: list[Msg] = field(default_factory=list)  # display/update content
    execute_result: Msg | None = None  # its "data" bundle
    messages: list[Msg] = field(default_factory=list)  # raw iopub, this parent


def wait_for(predicate: Any, timeout: float, step: float = 0.1) -> Any:
    """Poll ``predicate`` until it is truthy or ``timeout`` seconds pass; return its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def parent_id(msg: Msg) -> str | None:
    """The msg_id of the request a message answers, None for no parent."""
    return msg.get("parent_header", {}).get("msg_id")


class Kernel:
    """Start, drive and stop one real kernel; use as a context manager."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        python: str = sys.executable,
        cwd: str | None = None,
        startup_timeout: float = 60,
    ) -> None:
        self.env = dict(env or {})
        self.python = python
        self.cwd = cwd
        self.startup_timeout = startup_timeout
        self._tmp = tempfile.mkdtemp(prefix="loopal-kernel-")
        self._unread: list[Msg] = []
        self.km: KernelManager | None = None
        self.kc: BlockingKernelClient | None = None

    def __enter__(self) -> Kernel:
        self.start()
        return self

    def __exit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def start(self) -> None:
        spec_dir = os.path.join(self._tmp, "kernels", _KERNEL_NAME)
        os.makedirs(spec_dir, exist_ok=True)
        argv = [self.python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        with open(os.path.join(spec_dir, "kernel.json"), "w") as f:
            json.dump({"argv": argv, "display_name": _KERNEL_NAME, "language": "python"}, f)
        ksm = KernelSpecManager(kernel_dirs=[os.path.join(self._tmp, "kernels")])
        self.km = KernelManager(
            kernel_name=_KERNEL_NAME,
            kernel_spec_manager=ksm,
            transport="ipc",  # no "running over TCP without encryption" warning
            connection_file=os.path.join(self._tmp, "kernel.json"),
        )
        # debugpy's "frozen modules" warning can reach iopub at startup as a
        # parentless stderr stream (seen on ipykernel 6 and 7): noise for
        # drain_iopub. The caller's env may still turn it back on.
        quiet = {"PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        env = {**os.environ, **quiet, **self.env}
        # ipykernel does not forward fd 1/2 output when it sees pytest's variable; a
        # kernel under Jupyter does, and that is what job fd capture must coexist with.
        env.pop("PYTEST_CURRENT_TEST", None)
        self.km.start_kernel(env=env, cwd=self.cwd or self._tmp)
        self.kc = self.km.blocking_client()
        self.kc.start_channels()
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Ready = a kernel_info reply plus its idle seen on iopub (subscribed)."""
        assert self.kc is not None and self.km is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.km.is_alive():
                raise RuntimeError("kernel died during startup")
            mid = self.kc.kernel_info()
            if self._wait_idle(mid, time.monotonic() + 2) is not None:
                return
        raise TimeoutError(f"kernel not ready after {self.startup_timeout}s")

    def _pull(self, timeout: float) -> Msg | None:
        assert self.kc is not None
        try:
            msg: Msg = self.kc.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return None
        self._unread.append(msg)
        return msg

    def _wait_idle(self, mid: str, deadline: float) -> list[Msg] | None:
        """Read iopub until `mid`'s idle status; its messages, or None on timeout."""
        mine: list[Msg] = []
        while (left := deadline - time.monotonic()) > 0:
            msg = self._pull(min(left, 0.5))
            if msg is None or parent_id(msg) != mid:
                continue
            mine.append(msg)
            if msg["content"].get("execution_state") == "idle":
                return mine
        return None

    def _wait_done(self, mid: str, deadline: float) -> tuple[list[Msg] | None, Msg | None]:
        """Read iopub until `mid`'s idle status, watching the shell channel for its reply too.

        Under load a kernel's iopub (a PUB socket) drops messages past its high-water mark, idle
        statuses among them; the shell reply is never dropped. Seen a reply, and no idle within
        ``IDLE_AFTER_REPLY`` s of it: the cell ended, its idle was dropped. Returns (messages, reply).
        """
        assert self.kc is not None
        mine: list[Msg] = []
        reply: Msg | None = None
        replied_at = 0.0
        while (left := deadline - time.monotonic()) > 0:
            msg = self._pull(min(left, 0.25))
            if msg is not None and parent_id(msg) == mid:
                mine.append(msg)
                if msg["content"].get("execution_state") == "idle":
                    return mine, reply
            if reply is None:
                try:
                    got: Msg = self.kc.get_shell_msg(timeout=0.01)
                except queue.Empty:
                    continue
                if parent_id(got) == mid:
                    reply, replied_at = got, time.monotonic()
            elif time.monotonic() - replied_at > IDLE_AFTER_REPLY:
                return mine, reply
        return None, reply

    def execute(
        self,
        code: str,
        timeout: float = 30,
        *,
        silent: bool = False,
        store_history: bool = True,
        cell_id: str | None = None,
    ) -> ExecResult:
        """Run `code` as a cell and collect what it produced (``cell_id``: as JupyterLab names its cells)."""
        assert self.kc is not None
        if cell_id is None:
            mid = self.kc.execute(code, silent=silent, store_history=store_history)
        else:
            content = {
                "code": code,
                "silent": silent,
                "store_history": store_history,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            }
            msg = self.kc.session.msg("execute_request", content, metadata={"cellId": cell_id})
            self.kc.shell_channel.send(msg)
            mid = msg["header"]["msg_id"]
        mine, reply = self._wait_done(mid, time.monotonic() + timeout)
        if mine is None:
            raise TimeoutError(f"cell did not finish in {timeout}s: {code[:80]!r}")
        res = ExecResult(msg_id=mid, messages=mine)
        for msg in mine:
            kind, c = msg["msg_type"], msg["content"]
            if kind == "stream":
                if c["name"] == "stdout":
                    res.stdout += c["text"]
                else:
                    res.stderr += c["text"]
            elif kind in ("display_data", "update_display_data"):
                res.displays.append(c)
            elif kind == "execute_result":
                res.execute_result = c["data"]
            elif kind == "error":
                res.ename, res.evalue = c["ename"], c["evalue"]
                res.traceback = c["traceback"]
        reply = (reply or self._reply(mid, timeout))["content"]
        res.status = reply["status"]
        res.execution_count = reply.get("execution_count")
        # A UsageError reaches iopub only as a stderr line; its name is in the reply.
        if res.status == "error" and res.ename is None:
            res.ename, res.evalue = reply.get("ename"), reply.get("evalue")
        return res

    def _reply(self, mid: str, timeout: float) -> Msg:
        """The shell reply to `mid`, skipping stale kernel_info replies."""
        assert self.kc is not None
        while True:
            reply: Msg = self.kc.get_shell_msg(timeout=timeout)
            if parent_id(reply) == mid:
                return reply

    def evaluate(self, expr: str, timeout: float = 30) -> Any:
        """The value of `expr` in the user namespace (must round-trip via repr).

        Uses a silent request with user_expressions: no history, no execution
        count, no pre/post_run_cell events (only `post_execute` fires), so it
        does not disturb idle tracking. Values come back as literal_eval(repr).
        """
        assert self.kc is not None
        ue = {"v": f"repr({expr})"}
        mid = self.kc.execute("", silent=True, store_history=False, user_expressions=ue)
        if self._wait_idle(mid, time.monotonic() + timeout) is None:
            raise TimeoutError(f"evaluate({expr!r}) timed out")
        v = self._reply(mid, timeout)["content"]["user_expressions"]["v"]
        if v["status"] != "ok":
            raise RuntimeError(f"evaluate({expr!r}): {v['ename']}: {v['evalue']}")
        return ast.literal_eval(ast.literal_eval(v["data"]["text/plain"]))

    def read_iopub_for(self, seconds: float) -> None:
        """Read (and forget) iopub for ``seconds``: a long wait with no request must keep reading, or
        ZMQ's high-water marks (1,000 queued messages) fill and the kernel's newest messages are dropped."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self._pull(min(left, 0.5))
        self._unread.clear()

    def drain_iopub(self, quiet: float = 0.5) -> list[Msg]:
        """All iopub messages since the last drain; reads until `quiet` s of silence."""
        while self._pull(quiet) is not None:
            pass
        out, self._unread = self._unread, []
        return out

    def restart(self) -> None:
        """Restart through the KernelManager (same env and cwd), wait until ready."""
        assert self.km is not None
        self.km.restart_kernel(now=False)
        self._wait_ready()

    def shutdown(self) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None
        if self.km is not None:
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=False)
            self.km = None
        shutil.rmtree(self._tmp, ignore_errors=True)


# ------------------------------------------------- helpers for test modules
def kernel_env(tmp_path: Any, **extra: str) -> dict[str, str]:
    """Env for a test kernel: private store and IPython dir, nothing that names a session."""
    return {
        "LOOPAL_HOME": str(tmp_path / "home"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        # Empty means unset for loopal_ipy: whatever the outer shell exports,
        # the kernel has no session (the connection file is not kernel-<id>.json).
        "LOOPAL_SESSION_ID": "",
        "JPY_SESSION_NAME": "",
        **extra,
    }


SCHED = "loopal_ipy.get_scheduler()"
IDLE_AFTER_REPLY = 5.0  # seconds a cell's idle may lag its reply before we take it as dropped
OUTPUT_KINDS = ("stream", "error", "display_data", "update_display_data", "execute_result")


def ok(k: Kernel, code: str, timeout: float = 30, **kw: Any) -> ExecResult:
    r = k.execute(code, timeout=timeout, **kw)
    assert r.status == "ok", f"{code!r} failed: {r.ename}: {r.evalue}\n{r.stderr}"
    return r


def text(r: ExecResult) -> str:
    return (r.execute_result or {}).get("text/plain", "")


def create(k: Kernel, line: str) -> str:
    """Run a ``%cron create`` line; return the new job's id."""
    r = ok(k, line)
    m = re.match(r"^created (?:job|one-shot) ([a-z0-9]{8})\b", text(r))
    assert m, f"unexpected create echo: {text(r)!r}"
    return m.group(1)


def job(jid: str, attr: str) -> str:
    return f"{SCHED}.get({jid!r}).{attr}"


def history(k: Kernel, jid: str) -> list[dict[str, Any]]:
    return k.evaluate(
        f"[dict(status=r.status, output=r.output, error=r.error, t=r.started_at.timestamp(), trigger=r.trigger)"
        f" for r in {job(jid, 'history')}]"
    )


def write_notebook(path: Any, cells: list[str]) -> Any:
    """A notebook of these code cells on a python3 kernel, written to ``path`` (folders made); returns path."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def last_error(k: Kernel, jid: str) -> dict[str, Any]:
    """The job's latest failed run (skips recorded meanwhile come after it)."""
    return [h for h in history(k, jid) if h["status"] == "error"][-1]


def leaks(messages: list[dict[str, Any]], markers: tuple[str, ...]) -> list[str]:
    """Every iopub message that carries a marker: output kinds by kind, and any kind at all."""
    found = []
    for msg in messages:
        blob = json.dumps(msg["content"])
        hit = [m for m in markers if m in blob]
        if hit:
            parent = msg.get("parent_header", {}).get("msg_id")
            found.append(f"{msg['msg_type']} (parent {parent}) carries {hit}: {blob[:300]}")
    return found
