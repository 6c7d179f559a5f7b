"""The README's two commands are the ones that work."""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.browser


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [line.strip() for block in blocks[:2] for line in block.splitlines() if line.strip()]


def test_readme_names_the_install_and_test_commands() -> None:
    install, tests = readme_commands()[:2]
    assert install == 'pip install -e ".[lab]" && jupyter lab notebooks/quickstart.ipynb'
    assert tests == "bash scripts/test.sh"
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_the_install_command_opens_the_quickstart(tmp_path: Path) -> None:
    install = readme_commands()[0]
    pip_part, lab_part = (part.strip() for part in install.split("&&"))
    # The pip half: the extra it names exists and resolves (this venv already has it installed).
    dry = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", *shlex.split(pip_part)[2:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert dry.returncode == 0, dry.stderr
    # The jupyter half, as a user runs it from the clone (plus what root and a test need).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(8)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
        "LOOPAL_HOME": str(tmp_path / "home"),
    }
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        *shlex.split(lab_part)[2:],
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.token={token}",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "JupyterLab did not start"
            time.sleep(0.5)
        # Given a file, jupyter_server serves from the file's folder and opens the file.
        url = f"{base}/api/contents/quickstart.ipynb?token={token}"
        with urllib.request.urlopen(url, timeout=10) as r:
            nb = json.load(r)
        assert nb["type"] == "notebook"
        assert any("%load_ext loopal_ipy" in "".join(c["source"]) for c in nb["content"]["cells"])
        with urllib.request.urlopen(f"{base}/lab/tree/quickstart.ipynb?token={token}", timeout=10) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
