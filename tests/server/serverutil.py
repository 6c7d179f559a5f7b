"""A real ``jupyter server`` for tests: private dirs, a token, a free port, REST, and cells over ZMQ."""

from __future__ import annotations

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
from jupyter_client.blocking import BlockingKernelClient

KERNEL_DISPLAY_NAME = "loopal test python3"  # display_name: proves the server picked our kernelspec


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One ``jupyter server`` subprocess and the REST calls the test needs."""

    def __init__(self, root: Path, args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> None:
        self.root = root
        self.args = args
        self.extra_env = dict(env or {})
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
        env.update(self.extra_env)
        return env

    def install_kernelspec(self) -> None:
        """``python3`` in the fresh data dir, first on the server's kernelspec path, runs this interpreter."""
        spec = self.root / "data" / "kernels" / "python3"
        spec.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec / "kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": KERNEL_DISPLAY_NAME, "language": "python"})
        )

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
            *self.args,
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
        self._track(kid)
        return kid

    def start_session(self, path: str) -> str:
        """A notebook session, as JupyterLab opens one: the kernel learns its notebook's path."""
        body = {"path": path, "name": path, "type": "notebook", "kernel": {"name": "python3"}}
        kid: str = self.api("POST", "/api/sessions", body)["kernel"]["id"]
        self._track(kid)
        return kid

    def _track(self, kid: str) -> None:
        self.kernel_ids.append(kid)
        assert self.proc is not None
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            self.kernel_procs.setdefault(child.pid, child)

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
def jupyter_server(root: Path, args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> Iterator[Server]:
    server = Server(root, args, env)
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
