"""binder/ follows repo2docker's conventions and really builds an environment (docs/development.md).

What repo2docker does with a ``binder/`` folder (so root-level config is ignored):
``runtime.txt`` picks the Python; ``requirements.txt`` is installed with
``pip install -r binder/requirements.txt`` from the repository root (before the
repository is copied in when the file has no local paths); then
``./binder/postBuild`` runs from the repository root, as the notebook user.

The slow test replays that in a fresh venv on a copy of the repository
(``python -m venv``; ``pip install -r binder/requirements.txt``; ``binder/postBuild``)
and then starts a kernel of that venv to see that it loads loopal_ipy by itself.
It starts a real kernel, so it carries the ``kernel`` mark (``-m "not kernel"``
deselects it with the other slow tests); it is never skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"

# Not part of what repo2docker would copy in from a clean clone.
_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv*",
    "venv*",
    "__pycache__",
    "*.egg-info",
    "build",
    "dist",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".ipynb_checkpoints",
    "node_modules",
)


def _requirement_lines() -> list[str]:
    text = (BINDER / "requirements.txt").read_text(encoding="utf-8")
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def _post_build_commands() -> list[str]:
    text = (BINDER / "postBuild").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines()[1:] if line.strip() and not line.strip().startswith("#")]


# ------------------------------------------------------------------ conventions
def test_binder_files_exist() -> None:
    assert (BINDER / "requirements.txt").is_file()
    assert (BINDER / "postBuild").is_file()
    # A Dockerfile would make repo2docker ignore everything else in binder/.
    assert not (BINDER / "Dockerfile").exists()


def test_post_build_is_an_executable_script_with_a_shebang() -> None:
    post_build = BINDER / "postBuild"
    mode = post_build.stat().st_mode
    assert mode & stat.S_IXUSR and mode & stat.S_IXGRP and mode & stat.S_IXOTH, oct(mode)
    first = post_build.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("#!") and ("bash" in first or first.endswith("/sh")), first
    assert b"\r\n" not in post_build.read_bytes(), "CRLF line endings break the shebang"


def test_post_build_stops_on_errors_installs_the_repo_and_enables_the_extension() -> None:
    commands = _post_build_commands()
    assert commands[0] in ("set -e", "set -eu", "set -euo pipefail"), commands  # a failed step fails the build
    installs = [c for c in commands if re.search(r"\bpip install\b", c)]
    assert installs and any(c.split()[-1] == "." for c in installs), installs  # the repository root
    assert not any(" -e " in f" {c} " or "--editable" in c for c in installs), installs
    enables = [i for i, c in enumerate(commands) if c.split()[:2] == ["loopal-ipy", "enable"]]
    assert enables and enables[0] > commands.index(installs[0]), commands  # enable after install


def test_requirements_are_plain_requirements_with_jupyterlab() -> None:
    lines = _requirement_lines()
    reqs = [Requirement(line) for line in lines]  # raises on -e, paths and other pip options
    names = {r.name.lower() for r in reqs}
    assert "jupyterlab" in names, names
    lab = next(r for r in reqs if r.name.lower() == "jupyterlab")
    assert lab.specifier.contains("4.2.0"), lab  # JupyterLab 4


def test_runtime_matches_the_package() -> None:
    runtime = BINDER / "runtime.txt"
    if not runtime.exists():  # repo2docker's default Python; still must fit requires-python
        return
    m = re.fullmatch(r"python-(\d+\.\d+)(\.\d+)?", runtime.read_text(encoding="utf-8").strip())
    assert m, runtime.read_text(encoding="utf-8")
    # tomllib is 3.11+ and this package supports 3.10: read the one line
    requires = re.search(r'^requires-python\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert requires, "pyproject.toml has no requires-python"
    assert Version(m.group(1)) in SpecifierSet(requires.group(1)), (m.group(1), requires.group(1))


# -------------------------------------------------------------------- the build
_KERNEL_CHECK = textwrap.dedent(
    """
    import json, sys
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    out = []
    try:
        code = (
            "import json, sys; from IPython import get_ipython; sh = get_ipython(); "
            "print(json.dumps({'exe': sys.executable, "
            "'cron': 'cron' in sh.magics_manager.magics['line'], "
            "'loaded': 'loopal_ipy' in sh.extension_manager.loaded}))"
        )
        reply = kc.execute_interactive(
            code, timeout=60,
            output_hook=lambda m: out.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None,
        )
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    print("".join(out).strip().splitlines()[-1])
    """
)


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    assert r.returncode == 0, f"{cmd} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.mark.kernel
@pytest.mark.timeout(300)
def test_binder_environment_builds_and_every_kernel_loads_loopal_ipy(tmp_path: Path) -> None:
    started = time.monotonic()
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=_IGNORE)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    bin_dir = venv / "bin"
    ipython_dir = tmp_path / "ipython"
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
        "VIRTUAL_ENV": str(venv),
        "IPYTHONDIR": str(ipython_dir),  # loopal-ipy enable writes here, not in the user's profile
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    for key in ("PYTHONPATH", "PYTHONHOME", "JUPYTER_PATH", "LOOPAL_SESSION_ID", "JPY_SESSION_NAME"):
        env.pop(key, None)

    # repo2docker: pip install -r binder/requirements.txt, from the repository root
    _run([str(bin_dir / "pip"), "install", "-r", "binder/requirements.txt"], cwd=repo, env=env)
    # repo2docker: ./binder/postBuild, from the repository root
    r = _run(["./binder/postBuild"], cwd=repo, env=env)
    assert "enabled" in r.stdout, r.stdout

    py = str(bin_dir / "python")
    r = _run([py, "-c", "import loopal_ipy, jupyterlab; print(loopal_ipy.__file__)"], cwd=tmp_path, env=env)
    assert str(venv) in r.stdout and str(repo) not in r.stdout, r.stdout  # a real install, not the checkout
    r = _run([str(bin_dir / "loopal-ipy"), "status"], env=env)
    assert r.stdout.startswith("enabled") and str(ipython_dir) in r.stdout, r.stdout
    r = _run([str(bin_dir / "jupyter"), "lab", "--version"], env=env)
    assert r.stdout.strip().startswith("4."), r.stdout

    # Every kernel loads the extension at start: %cron exists before any cell loads it.
    r = _run([py, "-c", _KERNEL_CHECK], cwd=tmp_path, env=env, timeout=120)
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    assert seen["cron"] and seen["loaded"], seen
    assert Path(seen["exe"]).parent == bin_dir, seen
    assert time.monotonic() - started < 180, f"binder build took {time.monotonic() - started:.0f} s"


def test_committed_notebooks_are_what_the_build_script_writes(tmp_path: Path) -> None:
    """README: edit notebooks/build_notebooks.py and run it; the committed files must match it."""
    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, str(root / "notebooks" / "build_notebooks.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    built = sorted(p.name for p in tmp_path.glob("*.ipynb"))
    assert built == sorted(p.name for p in (root / "notebooks").glob("*.ipynb"))  # none missing, none extra
    for name in built:
        assert (tmp_path / name).read_text() == (root / "notebooks" / name).read_text(), name
    assert len(built) == 4
