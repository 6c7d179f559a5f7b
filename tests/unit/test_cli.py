"""`loopal-ipy enable/disable` edit only their own block of the profile config."""

from __future__ import annotations

import subprocess
import sys

from loopal_ipy import cli


def test_enable_is_idempotent_and_disable_restores(tmp_path) -> None:
    path = cli.config_path("default", str(tmp_path))
    path.parent.mkdir(parents=True)
    path.write_text("c = get_config()\nc.IPKernelApp.matplotlib = 'inline'\n")
    original = path.read_text()
    assert cli.enable(path).startswith("enabled")
    assert cli.enable(path).startswith("already enabled")
    assert path.read_text().count(cli.BEGIN) == 1
    assert 'c.IPKernelApp.extensions.append("loopal_ipy")' in path.read_text()
    assert cli.disable(path).startswith("disabled")
    assert path.read_text() == original
    assert cli.disable(path).startswith("not enabled")


def test_console_script_runs(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "loopal_ipy.cli", "enable", "--ipython-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "enabled" in out.stdout
    assert (tmp_path / "profile_default" / "ipython_kernel_config.py").exists()
    status = subprocess.run(
        [sys.executable, "-m", "loopal_ipy.cli", "status", "--ipython-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout.startswith("enabled")


def test_disable_removes_a_file_that_enable_created(tmp_path) -> None:
    """Regression: disable used to leave a profile file holding only `c = get_config()`."""
    path = cli.config_path("default", str(tmp_path))
    assert cli.enable(path).startswith("enabled") and path.exists()
    assert cli.disable(path).startswith("disabled")
    assert not path.exists()
    path.write_text("c = get_config()\n")  # a file of the user's own stays, even a bare one
    cli.enable(path)
    cli.disable(path)
    assert path.read_text() == "c = get_config()\n"


def test_jupyter_checkpoints_are_ignored_by_git() -> None:
    """Regression: opening the notebooks in Jupyter left .ipynb_checkpoints/ for `git status` to show."""
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    if shutil.which("git") is None or not (root / ".git").exists():
        lines = (root / ".gitignore").read_text().splitlines()
        assert ".ipynb_checkpoints/" in lines
        return
    out = subprocess.run(
        ["git", "check-ignore", "-q", "notebooks/.ipynb_checkpoints/quickstart-checkpoint.ipynb"], cwd=root
    )
    assert out.returncode == 0


def test_status_reads_the_config_as_ipython_does(tmp_path) -> None:
    """A later line that reassigns the extensions undoes the block; status says so."""
    path = cli.config_path("default", str(tmp_path))
    cli.enable(path)
    assert cli.status(path).startswith("enabled")
    path.write_text(path.read_text() + 'c.IPKernelApp.extensions = ["other"]\n')
    said = cli.status(path)
    assert said.startswith("not enabled") and "['other']" in said and "loopal-ipy block" in said, said
    cli.disable(path)
    path.unlink()  # its reassignment would win over ipython_config.py (the kernel's own section)
    base = path.parent / "ipython_config.py"
    base.write_text("c = get_config()\nc.InteractiveShellApp.extensions = ['loopal_ipy']\n")
    assert cli.status(path).startswith("enabled"), cli.status(path)
    base.write_text("c = get_config()\nraise RuntimeError('broken config')\n")
    said = cli.status(path)
    assert said.startswith("cannot tell") and "broken config" in said, said
