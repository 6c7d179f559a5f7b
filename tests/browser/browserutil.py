"""What the browser tests share: a server's private Jupyter environment, free ports, stopping it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(tmp_path: Path, config: Path) -> dict[str, str]:
    """Fresh config, data, runtime and IPython dirs and store; this environment's bin first; no session id."""
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "LOOPAL_HOME": str(tmp_path / "loopal"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("LOOPAL_SESSION_ID", None)
    return env


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
