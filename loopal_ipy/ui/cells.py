"""The cells of the live table as HTML: pure functions of a job and the time (docs/table.md).

The table (widget.py) sends a cell only when its text here changed; the
countdown's next change is predicted (``until_change``) so the table wakes only
when some text would move.
"""

from __future__ import annotations

import html
import math
import re
from datetime import datetime

from ..core.job import CronJob, Run
from ..core.schedule import get_zone
from . import render

STATE_COLORS = {"active": "#2e7d32", "paused": "#757575", "running": "#1565c0", "error": "#c62828"}
RED = "#c62828"
_MUTED = "color:var(--jp-ui-font-color2, #666);font-size:90%"
# The widget's line height is a whole input row; a long word (a name, a path) wraps rather than hides.
_LINES = "<div style='line-height:1.35;overflow-wrap:anywhere'>{}</div>"
_BREAKS = re.compile(r"([./_:,=(])(?=\w)")


def soft(escaped: str) -> str:
    """Escaped text with a line-break opportunity after each . / _ : , = ( inside a word: a narrow column
    wraps ``pandas.errors.ParserError`` after a dot, not as ``ParserEr|ror``."""
    return _BREAKS.sub(r"\1<wbr>", escaped)


# ------------------------------------------------------------------ countdowns


def until_change(when: datetime, now: datetime) -> float | None:
    """Seconds until ``render.countdown(when, now)`` shows another text (None: it says 'due')."""
    r = (when - now).total_seconds()
    if r <= 0:
        return None
    s = math.ceil(r)
    if s <= 600:
        start = s
    elif s < 86400:
        start = 60 * (s // 60)
    else:
        start = 3600 * (s // 3600)
    # ceil(r) drops below `start` once r <= start - 1
    return r - (start - 1) + 0.001


# ------------------------------------------------------------------ cell texts
def _when(t: datetime, tz: str, now: datetime) -> str:
    zone = get_zone(tz)
    lt = t.astimezone(zone)
    fmt = "%H:%M:%S %Z" if lt.date() == now.astimezone(zone).date() else "%Y-%m-%d %H:%M:%S %Z"
    return lt.strftime(fmt)


def badge(text: str, color: str) -> str:
    return (
        f"<span style='background:{color};color:white;border-radius:3px;padding:0 5px;"
        f"font-size:85%'>{html.escape(text)}</span>"
    )


def error_line(run: Run) -> str:
    """The last line of a run's error: 'ZeroDivisionError: division by zero'."""
    lines = [line for line in (run.error or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "error"


def job_cell(job: CronJob, now: datetime) -> str:
    name = f" <i>{html.escape(job.name)}</i>" if job.name else ""
    badges = (" " + badge("durable", "#1565c0") if job.durable else "") + (
        "" if job.recurring else " " + badge("once", "#6a1b9a")
    )
    return _LINES.format(f"<b>{job.id}</b>{name}{badges}")


def schedule_cell(job: CronJob, now: datetime) -> str:
    policy = render.policy(job)
    return _LINES.format(
        f"<code>{html.escape(job.schedule)}</code><br><span style='{_MUTED}'>{html.escape(job.description)}</span>"
        + (f"<br><span style='{_MUTED}'>{html.escape(policy)}</span>" if policy else "")
    )


def code_cell(job: CronJob, now: datetime) -> str:
    code = f"<code title='{html.escape(job.code)}'>{soft(html.escape(render.preview(job.code, 24)))}</code>"
    return _LINES.format(code)


def state_cell(job: CronJob, now: datetime) -> str:
    return badge(job.state, STATE_COLORS.get(job.state, "#757575"))


def next_cell(job: CronJob, now: datetime) -> str:
    if (start := job.next_start) is None:
        return "—"
    left = html.escape(render.in_words(start, now) + render.next_what(job))
    return _LINES.format(f"{_when(start, job.tz, now)}<br><span style='{_MUTED}'>{left}</span>")


def last_cell(job: CronJob, now: datetime) -> str:
    last = job.last_run
    if last is None:
        return "—"
    status = last.status if last.status != "error" else f"<span style='color:{RED}'>error</span>"
    took = f"<span style='{_MUTED}'>{last.duration * 1000:.0f} ms,</span>"
    text = f"{_when(last.started_at, job.tz, now)}<br>{took} {status}"
    if last.status == "error":
        text += (
            f"<br><span style='color:{RED};display:inline-block;max-width:14em;white-space:normal'>"
            f"{soft(html.escape(error_line(last)))}</span>"
        )
    return _LINES.format(text)


def runs_cell(job: CronJob, now: datetime) -> str:
    fails = f"<span style='color:{RED}'>{job.failures}</span>" if job.failures else "0"
    return f"{job.runs}/{fails}"


def run_outputs(job: CronJob, run: Run) -> list[tuple[str, str]]:
    """(stream, text) pieces of one history entry for the log view."""
    head = f"--- {render.local(run.started_at, job.tz)}  {run.status}  {run.duration * 1000:.1f} ms  ({run.trigger})\n"
    parts = [("stdout", head)]
    text = run.output
    if run.status == "error" and run.error and run.error in text:
        cut = text.rfind(run.error)
        printed, err = text[:cut], text[cut:]
        if printed:
            parts.append(("stdout", printed if printed.endswith("\n") else printed + "\n"))
        parts.append(("stderr", err if err.endswith("\n") else err + "\n"))
    elif text:
        parts.append(("stdout", text if text.endswith("\n") else text + "\n"))
    return parts


def log_outputs(job: CronJob, run: Run) -> tuple[dict[str, object], ...]:
    """One run as notebook outputs for the log view: its text, then the images it drew."""
    streams: tuple[dict[str, object], ...] = tuple(
        {"output_type": "stream", "name": name, "text": text} for name, text in run_outputs(job, run)
    )
    images: tuple[dict[str, object], ...] = tuple(
        {"output_type": "display_data", "data": {"image/png": png, "text/plain": "[an image]"}, "metadata": {}}
        for png in run.images
    )
    markup: tuple[dict[str, object], ...] = tuple(
        {"output_type": "display_data", "data": {"text/html": h, "text/plain": "[an HTML display]"}, "metadata": {}}
        for h in run.html
    )
    return streams + markup + images
