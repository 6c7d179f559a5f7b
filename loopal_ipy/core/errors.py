"""The errors loopal_ipy raises; each message says what was wrong and what would work."""

from __future__ import annotations


class CronError(Exception):
    """Base class: a user-facing problem, shown as one line by the magics."""


class ScheduleError(CronError, ValueError):
    """A schedule string that is not one of the accepted forms (docs/schedules.md)."""


class CodeError(CronError, ValueError):
    """Job code that does not compile or is too long."""


class LimitError(CronError, ValueError):
    """A configured limit (max_jobs, max_code_chars) would be exceeded."""


class JobNotFound(CronError, LookupError):
    """No job with that id or name in this session."""

    def __init__(self, key: str, known: list[str] | None = None) -> None:
        hint = f"; known jobs: {', '.join(known)}" if known else "; there are no jobs (see %cron list)"
        super().__init__(f"no job {key!r}{hint}")
        self.key = key

    def __str__(self) -> str:
        return str(self.args[0])


class NameTaken(CronError, ValueError):
    """A job name that is already used in this session."""


class StoreError(CronError, OSError):
    """The durable store cannot do what was asked (no session, read-only, not owner)."""


class ExportError(CronError, ValueError):
    """A job cannot graduate as asked (docs/export.md); nothing was written."""
