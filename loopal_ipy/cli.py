"""``loopal-ipy enable|disable|status``: load the extension in every kernel of a profile (SPEC §8).

Durable jobs come back after a restart only if something loads the extension
when the kernel starts, before any cell runs. This writes a marked block into
the profile's ``ipython_kernel_config.py`` (kernels only: terminal IPython
cannot fire jobs anyway), and removes exactly that block again.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from pathlib import Path

from .atomic import write_atomic

BEGIN = "# >>> loopal_ipy enable >>>"
END = "# <<< loopal_ipy enable <<<"
BLOCK = f"""{BEGIN}
# Added by `loopal-ipy enable`: every kernel loads loopal_ipy at start, so
# durable cron jobs come back after a restart. Remove with `loopal-ipy disable`.
c.IPKernelApp.extensions.append("loopal_ipy")
{END}
"""


CREATED = "c = get_config()  # noqa: this file was created by `loopal-ipy enable`\n"


def config_path(profile: str = "default", ipython_dir: str | None = None) -> Path:
    from IPython.paths import get_ipython_dir

    base = Path(ipython_dir or os.environ.get("IPYTHONDIR") or get_ipython_dir()).expanduser()
    return base / f"profile_{profile}" / "ipython_kernel_config.py"


def is_enabled(path: Path) -> bool:
    return path.exists() and BEGIN in path.read_text(encoding="utf-8")


def enable(path: Path) -> str:
    if is_enabled(path):
        return f"already enabled in {path}"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text(encoding="utf-8") if path.exists() else CREATED
    _rewrite(path, (text.rstrip("\n") + "\n\n" + BLOCK).encode())
    return f"enabled: every new or restarted kernel of this profile loads loopal_ipy ({path})"


def _rewrite(path: Path, data: bytes) -> None:
    """Replace the config file's contents; a symlinked config stays a symlink, and its mode stays."""
    target = Path(os.path.realpath(path))
    mode = stat.S_IMODE(os.stat(target).st_mode) if target.exists() else 0o644
    write_atomic(target, data, mode=mode)


def disable(path: Path) -> str:
    if not is_enabled(path):
        return f"not enabled in {path}; nothing to do"
    text = path.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    rest = (text[:start].rstrip("\n") + "\n" + text[end:].lstrip("\n")).lstrip("\n")
    if rest == CREATED:  # enable made the file: leave no file behind (a symlink's target goes too)
        os.unlink(os.path.realpath(path))
        if os.path.islink(path):
            os.unlink(path)
    else:
        _rewrite(path, rest.encode())
    return f"disabled: kernels no longer load loopal_ipy at start ({path})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loopal-ipy", description="Set up loopal_ipy for Jupyter kernels.")
    parser.add_argument("command", choices=["enable", "disable", "status"])
    parser.add_argument("--profile", default="default", help="IPython profile (default: default)")
    parser.add_argument("--ipython-dir", default=None, help="IPython dir (default: $IPYTHONDIR or ~/.ipython)")
    args = parser.parse_args(argv)
    path = config_path(args.profile, args.ipython_dir)
    if args.command == "enable":
        print(enable(path))
    elif args.command == "disable":
        print(disable(path))
    else:
        print(f"{'enabled' if is_enabled(path) else 'not enabled'} ({path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
