"""Jobs are activity: a real ``jupyter server`` with idle culling on keeps a kernel alive while its jobs run.

Why: the server culls a kernel after ``cull_idle_timeout`` seconds without activity it
tracks. A kernel whose only life is a scheduled job sends nothing a server would notice
unless each run publishes iopub ``status`` busy/idle under a parent of its own
(msg_type ``loopal_job``, a type the server tracks). Here kernel A runs a job every 2 s
and kernel B only has the extension loaded; both are driven over ZMQ from their
connection files, which is not a websocket "connection", so nothing else shields them.
B must be culled after ~8 s, A must still be alive 30 s after its last cell.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psutil
import pytest
from jupyter_client.blocking import BlockingKernelClient

pytestmark = pytest.mark.kernel

CULL_IDLE_TIMEOUT = 8  # seconds without tracked activity before the server culls a kernel
CULL_INTERVAL = 2  # seconds between the server's cull checks
ALIVE_FOR = 30  # kernel A must still be listed this long after its last cell
WAIT_AT_MOST = 40  # seconds after the last cell to wait for B's cull
SPEC_NAME = "loopal culling test python3"  # display_name: proves the server picked our kernelspec


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One ``jupyter server`` subprocess and the REST calls the test needs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runtime_dir = root / "runtime"
        self.log_path = root / "server.log"
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.kernel_ids: list[str] = []
        self.kernel_procs: dict[int, psutil.Process] = {}

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        # ipykernel changes its output handling when it sees pytest's variable; a kernel under Jupyter does not.
        env.pop("PYTEST_CURRENT_TEST", None)
        for name in ("LOOPAL_SESSION_ID", "JPY_SESSION_NAME", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH"):
            env.pop(name, None)
        dirs = {
            "JUPYTER_CONFIG_DIR": self.root / "config",
            "JUPYTER_DATA_DIR": self.root / "data",
            "JUPYTER_RUNTIME_DIR": self.runtime_dir,
            "IPYTHONDIR": self.root / "ipython",
            "LOOPAL_HOME": self.root / "loopal",
        }
        for name, path in dirs.items():
            path.mkdir(parents=True, exist_ok=True)
            env[name] = str(path)
        # In a venv jupyter_core puts sys.prefix/share/jupyter before the user data dir, so the venv's own
        # python3 kernelspec would shadow the one installed below; 0 puts JUPYTER_DATA_DIR first again.
        env["JUPYTER_PREFER_ENV_PATH"] = "0"
        env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
        return env

    def install_kernelspec(self) -> None:
        """``python3`` in the fresh data dir, first on the server's kernelspec path, runs this interpreter."""
        spec = self.root / "data" / "kernels" / "python3"
        spec.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": SPEC_NAME, "language": "python"}))

    def start(self, timeout: float = 60) -> None:
        env = self.env()
        self.install_kernelspec()
        cmd = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--allow-root",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_TIMEOUT}",
            f"--MappingKernelManager.cull_interval={CULL_INTERVAL}",
        ]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, env=env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited with {self.proc.returncode}:\n{self.log_tail()}")
            with suppress(OSError), urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2) as r:
                if r.status == 200:
                    return
            time.sleep(0.25)
        raise TimeoutError(f"jupyter server not answering after {timeout}s:\n{self.log_tail()}")

    def api(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        req.add_header("Authorization", f"token {self.token}")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def kernels(self) -> dict[str, dict[str, Any]]:
        return {k["id"]: k for k in self.api("GET", "/api/kernels")}

    def start_kernel(self) -> str:
        kid: str = self.api("POST", "/api/kernels", {"name": "python3"})["id"]
        self.kernel_ids.append(kid)
        assert self.proc is not None
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            self.kernel_procs.setdefault(child.pid, child)
        return kid

    def connection_file(self, kid: str) -> Path:
        return self.runtime_dir / f"kernel-{kid}.json"

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        """Shut every kernel down, then the server; kill whatever of it is left."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                live = self.kernels()
            except (OSError, ValueError):
                live = {}
            for kid in self.kernel_ids:
                if kid in live:
                    with suppress(OSError):  # urllib's errors are OSErrors
                        self.api("DELETE", f"/api/kernels/{kid}")
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for proc in self.kernel_procs.values():
            try:
                if proc.is_running():
                    proc.kill()
                    proc.wait(10)
            except psutil.Error:
                pass


@contextmanager
def jupyter_server(root: Path) -> Iterator[Server]:
    server = Server(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def run_cells(connection_file: Path, cells: list[str], timeout: float = 60) -> list[str]:
    """Run ``cells`` in a kernel over ZMQ, assert each reply is ok; return each cell's stdout."""
    deadline = time.monotonic() + timeout
    while not connection_file.exists():
        assert time.monotonic() < deadline, f"no connection file {connection_file}"
        time.sleep(0.1)
    kc = BlockingKernelClient(connection_file=str(connection_file))
    kc.load_connection_file()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=timeout)
        outputs = []
        for code in cells:
            out: list[str] = []

            def hook(msg: dict[str, Any], out: list[str] = out) -> None:
                if msg["msg_type"] == "stream":
                    out.append(msg["content"]["text"])
                elif msg["msg_type"] == "error":
                    out.append("\n".join(msg["content"]["traceback"]))

            reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
            content = reply["content"]
            assert content["status"] == "ok", (code, content.get("ename"), content.get("evalue"), "".join(out))
            outputs.append("".join(out))
        return outputs
    finally:
        kc.stop_channels()


def test_a_kernel_whose_only_life_is_a_job_is_not_culled(tmp_path: Path) -> None:
    if importlib.util.find_spec("jupyter_server") is None:  # a failure, not a skip: skips count as failures here
        pytest.fail(f"this test needs jupyter_server in {sys.prefix} (pip install jupyterlab)", pytrace=False)

    with jupyter_server(tmp_path) as server:
        specs = server.api("GET", "/api/kernelspecs")
        assert specs["kernelspecs"]["python3"]["spec"]["display_name"] == SPEC_NAME, specs
        a = server.start_kernel()
        b = server.start_kernel()

        probe = "import sys, loopal_ipy; print(loopal_ipy.__file__); print(sys.executable)"
        loaded_from, executable = run_cells(server.connection_file(a), [probe])[0].split()
        print(f"\nkernel A {a} runs {executable}, loopal_ipy from {loaded_from}; kernel B {b}", file=sys.stderr)
        assert executable == sys.executable
        run_cells(server.connection_file(a), ["%load_ext loopal_ipy", '%cron create "@every 2s" pass'])
        a_done = time.monotonic()
        run_cells(server.connection_file(b), ["%load_ext loopal_ipy"])
        b_done = time.monotonic()

        b_culled_after: float | None = None
        a_culled_after: float | None = None
        end = b_done + WAIT_AT_MOST
        next_report = 0.0
        while time.monotonic() < end:
            now = time.monotonic()
            live = server.kernels()
            if b_culled_after is None and b not in live:
                b_culled_after = now - b_done
                print(f"kernel B culled {b_culled_after:.1f}s after its last cell", file=sys.stderr)
            if a_culled_after is None and a not in live:
                a_culled_after = now - a_done
                print(f"kernel A culled {a_culled_after:.1f}s after its last cell", file=sys.stderr)
            a_settled = a_culled_after is not None or now - a_done >= ALIVE_FOR
            if a in live and (now >= next_report or a_settled):
                next_report = now + 5
                k = live[a]
                print(
                    f"  {now - a_done:4.1f}s after its last cell, A: last_activity={k['last_activity']} "
                    f"execution_state={k['execution_state']} connections={k['connections']}",
                    file=sys.stderr,
                )
            if a_settled and b_culled_after is not None:
                break
            time.sleep(1)
        culls = [line for line in server.log_tail(400).splitlines() if "Culling" in line]
        print("\n".join(["server log:", *culls]), file=sys.stderr)

        assert a_culled_after is None, f"kernel A (job every 2 s) culled {a_culled_after:.1f}s after its last cell"
        assert b_culled_after is not None, f"kernel B (no job) was not culled within {WAIT_AT_MOST}s"
        assert time.monotonic() - a_done >= ALIVE_FOR
        assert a in server.kernels()
