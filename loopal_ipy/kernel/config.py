"""The ``Cron`` configurable (docs/configuration.md): ``%config Cron.max_jobs = 100`` and ipython_config.py."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from traitlets import CaselessStrEnum, Float, Int, TraitError, Unicode, validate
from traitlets.config import Configurable

from ..core.errors import ScheduleError
from ..core.limits import MAX_TIMEOUT, Settings
from ..core.schedule import get_zone
from ..storage.journal import HISTORY_CHARS_MAX

# name: (lowest, highest, unit). Ranges a notebook can live with; beyond them a value is a typo.
RANGES: dict[str, tuple[float, float, str]] = {
    "max_jobs": (1, 10_000, ""),
    "max_age": (1, 10 * 365 * 86400, " seconds (ten years)"),
    "max_code_chars": (1, 1_000_000, " characters"),
    "history_size": (1, 1_000, " runs"),
    "output_limit": (1, 1_000_000, " characters"),
    "job_timeout": (0, MAX_TIMEOUT, " seconds (0 = no limit)"),
    "hook_timeout": (0, MAX_TIMEOUT, " seconds (0 = no limit)"),
    "notify_every": (1, 10_000, " failures"),
}
SETTING_NAMES = tuple(f.name for f in fields(Settings))  # what the core scheduler is told
_D = Settings()  # the defaults, declared once in the core


class Cron(Configurable):
    """Settings of loopal_ipy's scheduler; changes apply at once to the running scheduler."""

    max_jobs = Int(_D.max_jobs, help="Most jobs one session may hold; creating one more is an error.").tag(config=True)
    max_age = Float(
        _D.max_age,
        help="Seconds after creation at which a non-durable job expires and is removed "
        "(recorded in the log and the table footer). Durable jobs never expire.",
    ).tag(config=True)
    max_code_chars = Int(_D.max_code_chars, help="Longest job code accepted, in characters.").tag(config=True)
    timezone = Unicode(
        _D.timezone, help="IANA zone for jobs created without --tz; empty means the machine's local zone."
    ).tag(config=True)
    home = Unicode("", help="Folder of the durable store; empty means $LOOPAL_HOME, else ~/.loopal.").tag(config=True)
    history_size = Int(_D.history_size, help="Runs kept in each job's log.").tag(config=True)
    output_limit = Int(_D.output_limit, help="Characters of output kept per run.").tag(config=True)
    job_timeout = Float(
        _D.job_timeout,
        help="Seconds a job's run may last before it is stopped (a sync run gets an exception raised into "
        "its code, an async run is cancelled) and recorded as timed out; 0 means no limit. A job's own "
        "--timeout wins.",
    ).tag(config=True)
    hook_timeout = Float(
        _D.hook_timeout,
        help="Seconds a hook's callback (get_scheduler().on(...)) may take before it is stopped, "
        "abandoned and recorded in the hooks log; 0 means no limit (Kernel → Interrupt still stops it).",
    ).tag(config=True)
    notify = CaselessStrEnum(
        ["failures", "all", "off"],
        "failures",
        help='Frontend notifications (needs the alerts extra, ipylab): "failures" when a job goes from ok '
        'to failing and every notify_every failures in a row after that; "all" every failure and every '
        'recovery; "off" none.',
    ).tag(config=True)
    notify_every = Int(10, help="With notify = 'failures': notify again after this many more failures in a row.").tag(
        config=True
    )
    keep_alive = CaselessStrEnum(
        ["auto", "always", "while-shown"],
        "auto",
        help='Whether jobs keep the kernel alive for an idle culler: "always" (a notebook: close the tab, '
        'the jobs go on); "while-shown" (a dashboard: once no page shows a job table for 3 s, jobs are '
        'held and the kernel falls silent, so the culler can end it); "auto" is "while-shown" in a Voila '
        'page\'s kernel and "always" elsewhere.',
    ).tag(config=True)
    rehydrate = CaselessStrEnum(
        ["run", "paused"],
        "run",
        help='How durable jobs come back after a restart: "run" (scheduled again) or '
        '"paused" (shown paused, for review, until resumed).',
    ).tag(config=True)

    @validate(*RANGES)
    def _in_range(self, proposal: Any) -> Any:
        """Finite and in range, or one clear line (docs/configuration.md): no setting may silently stop jobs."""
        name, value = proposal["trait"].name, proposal["value"]
        low, high, unit = RANGES[name]
        if not (isinstance(value, int | float) and math.isfinite(value) and low <= value <= high):
            raise TraitError(f"Cron.{name} must be between {low:g} and {high:g}{unit}, got {value!r}")
        if name in ("history_size", "output_limit"):
            other = "output_limit" if name == "history_size" else "history_size"
            if value * getattr(self, other) > HISTORY_CHARS_MAX:
                raise TraitError(
                    f"Cron.{name} = {value:,} with Cron.{other} = {getattr(self, other):,} would keep "
                    f"{value * getattr(self, other):,} characters of log per job, over the "
                    f"{HISTORY_CHARS_MAX:,} a durable store holds per job; lower Cron.{other} first"
                )
        return value

    @validate("timezone")
    def _zone(self, proposal: Any) -> str:
        try:
            if proposal["value"]:  # empty: the local zone, checked when a job needs it
                get_zone(proposal["value"])
        except ScheduleError as e:
            raise TraitError(str(e)) from None
        return proposal["value"]

    def settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SETTING_NAMES}
