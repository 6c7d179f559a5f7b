"""``loopal-ipy enable|disable|status``: load the extension in every kernel of a profile (docs/configuration.md).

Durable jobs come back after a restart only if something loads the extension
when the kernel starts, before any cell runs. This writes a marked block into
the profile's ``ipython_kernel_config.py`` (kernels only: terminal IPython
cannot fire jobs anyway), and removes exactly that block again.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from .core.job import to_rfc3339
from .storage.atomic import write_atomic

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


def status(path: Path) -> str:
    """Whether a kernel of this profile loads loopal_ipy, read as IPython reads the config (traitlets):
    a later line that reassigns ``c.IPKernelApp.extensions`` undoes the block, and this says so."""
    from traitlets.config.loader import Config, PyFileConfigLoader

    config = Config()
    try:
        for name in ("ipython_config.py", path.name):  # what IPKernelApp loads, in its order
            if (path.parent / name).exists():
                config.merge(PyFileConfigLoader(name, path=str(path.parent)).load_config())
        from IPython.core.shellapp import InteractiveShellApp

        class IPKernelApp(InteractiveShellApp):
            """Reads the config sections ipykernel's app reads (by class name), without importing it:
            importing ipykernel's app outside a kernel replaces comm.create_comm process-wide."""

        app = IPKernelApp(config=config)
        loaded = [*app.default_extensions, *app.extensions, *getattr(app, "extra_extensions", [])]
    except Exception as e:  # the config file itself fails: IPython would say so at kernel start
        return f"cannot tell: the IPython config in {path.parent} fails to load ({type(e).__name__}: {e})"
    if "loopal_ipy" in loaded:
        return f"enabled: kernels of this profile load loopal_ipy ({path})"
    if is_enabled(path):
        return (
            f"not enabled: {path} has the loopal-ipy block, but the config as IPython reads it gives "
            f"extensions {app.extensions!r} (a later line reassigns them): add 'loopal_ipy' there"
        )
    return f"not enabled ({path}); `loopal-ipy enable` turns it on"


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


def jobs_overview(home: Path) -> list[dict[str, Any]]:
    """Every session's durable jobs under ``home``, read without a lock and without writing anything."""
    from .storage.lock import SessionLock
    from .storage.session import is_safe_session_id
    from .storage.store import Store

    sessions = home / "sessions"
    out: list[dict[str, Any]] = []
    names = sorted(p.name for p in sessions.iterdir()) if sessions.is_dir() and not sessions.is_symlink() else []
    for name in names:
        folder = sessions / name
        if not is_safe_session_id(name) or folder.is_symlink() or not folder.is_dir():
            out.append({"session": name, "status": "not a session folder (skipped)", "owner": None, "jobs": []})
            continue
        status, jobs = Store(home, name, warn=lambda _message: None).peek()
        owner = SessionLock(folder).owner()
        out.append(
            {
                "session": name,
                "notebook": (owner or {}).get("label"),
                "owner": None if owner is None else {"pid": owner.get("pid"), "hostname": owner.get("hostname")},
                "status": status,
                "jobs": [_job_row(job) for job in jobs],
            }
        )
    return out


def _job_row(job: Any) -> dict[str, Any]:
    last = job.last_run
    return {
        "id": job.id,
        "name": job.name,
        "schedule": job.schedule,
        "tz": job.tz,
        "paused": job.paused,
        "next_fire": to_rfc3339(job.next_fire),
        "last_run": None if last is None else to_rfc3339(last.started_at),
        "last_status": None if last is None else last.status,
        "runs": job.runs,
        "failures": job.failures,
    }


def _jobs_text(overview: list[dict[str, Any]], home: Path) -> str:
    if not overview:
        return f"no sessions under {home / 'sessions'}"
    lines = []
    for s in overview:
        owner = (
            "no live owner" if s["owner"] is None else f"owned by pid {s['owner']['pid']} on {s['owner']['hostname']}"
        )
        notebook = f", notebook {s['notebook']}" if s.get("notebook") else ""
        lines.append(f"session {s['session']}{notebook}: {s['status']}, {owner}")
        for j in s["jobs"]:
            label = f"{j['id']} ({j['name']})" if j["name"] else j["id"]
            state = "paused" if j["paused"] else f"next {j['next_fire']}"
            last = f"last {j['last_run']} {j['last_status']}" if j["last_run"] else "never ran"
            lines.append(f"  {label}  {j['schedule']} [{j['tz']}]  {state}  {last}  runs {j['runs']}/{j['failures']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loopal-ipy", description="Set up loopal_ipy for Jupyter kernels.")
    parser.add_argument("command", choices=["enable", "disable", "status", "jobs"])
    parser.add_argument("--profile", default="default", help="IPython profile (default: default)")
    parser.add_argument("--ipython-dir", default=None, help="IPython dir (default: $IPYTHONDIR or ~/.ipython)")
    parser.add_argument("--home", default=None, help="jobs: the store (default: $LOOPAL_HOME, else ~/.loopal)")
    parser.add_argument("--json", action="store_true", help="jobs: print JSON (schema in the README)")
    args = parser.parse_args(argv)
    if args.command == "jobs":
        home = Path(args.home or os.environ.get("LOOPAL_HOME") or "~/.loopal").expanduser()
        overview = jobs_overview(home)
        print(
            json.dumps({"home": str(home), "sessions": overview}, indent=1) if args.json else _jobs_text(overview, home)
        )
        return 0
    path = config_path(args.profile, args.ipython_dir)
    if args.command == "enable":
        print(enable(path))
    elif args.command == "disable":
        print(disable(path))
    else:
        print(status(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
