"""The job model: plain data that round-trips through JSON.

A job's schedule state is ``last_fired`` and ``next_fire`` — plain instants,
never iterator state — so a saved job rebuilds exactly.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, overload

from .figures import MAX_HTML, MAX_HTML_CHARS, MAX_IMAGE_CHARS, MAX_IMAGES
from .options import OPTIONS, Option, on_register
from .schedule import Schedule, parse_schedule

ID_ALPHABET = string.ascii_lowercase + string.digits
STATUSES = ("ok", "error", "skipped", "coalesced")


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text that encodes as UTF-8: lone surrogates (os.listdir of a non-UTF-8 name) become U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


_CUT = re.compile(r"\[… first [0-9,]+ characters cut: Cron\.output_limit\]\n")


def tail_text(text: str, limit: int, dropped: int = 0) -> str:
    """The last ``limit`` characters of valid text, with a note of how many came before them.

    Idempotent: text this already cut (the runner's buffer cuts, then the core) is left alone.
    """
    text = clean_text(text)
    if not dropped:
        if len(text) <= limit:
            return text
        note = _CUT.match(text)
        if note is not None and len(text) - note.end() <= limit:
            return text
    dropped += max(0, len(text) - limit)
    return f"[… first {dropped:,} characters cut: Cron.output_limit]\n" + text[len(text) - min(limit, len(text)) :]


def new_id(taken: set[str] | dict[str, Any]) -> str:
    """A fresh 8-character ``[a-z0-9]`` id not in ``taken``."""
    while True:
        candidate = "".join(secrets.choice(ID_ALPHABET) for _ in range(8))
        if candidate not in taken:
            return candidate


def to_rfc3339(t: datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is UTC:  # what the scheduler holds: no conversion, and the offset is known
        return t.isoformat(timespec="microseconds")[:-6] + "Z"
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@overload
def from_rfc3339(text: str) -> datetime: ...
@overload
def from_rfc3339(text: None) -> None: ...
@overload
def from_rfc3339(text: str | None) -> datetime | None: ...
def from_rfc3339(text: str | None) -> datetime | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValueError(f"expected an RFC 3339 time string, got {text!r}")
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return t.astimezone(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """One entry of a job's history: a run, or a fire that did not happen as a run."""

    started_at: datetime
    duration: float = 0.0
    status: str = "ok"
    output: str = ""
    error: str | None = None
    occurrence: datetime | None = None
    trigger: str = "schedule"  # schedule | run-now | wait
    # Why the code was stopped from outside: "interrupted", "timeout", "restart" (an interrupt that a
    # shutdown request followed) or "terminated" (SIGTERM); the bridge acts on it. Not saved.
    stopped: str | None = None
    images: tuple[str, ...] = ()  # base64 PNGs the run drew (pyplot figures, displayed images)
    html: tuple[str, ...] = ()  # HTML the run displayed (a DataFrame, a status card), shown in the log view
    # What a cell would have shown, in order, as nbformat outputs (printed text, displays with their rich data,
    # figures last): what a live view draws (docs/live.md). In memory only, and only for a job's newest run
    # (RunLog drops it from the one before); None: not recorded (a run loaded from disk, an older run).
    shown: tuple[Mapping[str, Any], ...] | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "started_at": to_rfc3339(self.started_at),
            "duration": self.duration,
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "occurrence": to_rfc3339(self.occurrence),
            "trigger": self.trigger,
        }
        if self.images:
            d["images"] = list(self.images)
        if self.html:
            d["html"] = list(self.html)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Run:
        status = d.get("status", "ok")
        if status not in STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        return cls(
            started_at=from_rfc3339(d["started_at"]),
            duration=float(d.get("duration", 0.0)),
            status=status,
            output=clean_text(str(d.get("output", ""))),
            error=clean_text(str(d["error"])) if d.get("error") is not None else None,
            occurrence=from_rfc3339(d.get("occurrence")),
            trigger=str(d.get("trigger", "schedule")),
            images=_images(d.get("images")),
            html=_html(d.get("html")),
        )


class RunLog(list[Run]):
    """A job's run history: its last ``maxlen`` runs, oldest first. A list, so ``history[-2:]`` works;
    appending past ``maxlen`` drops the oldest, as a bounded deque would."""

    def __init__(self, runs: Iterable[Run] = (), maxlen: int = 20) -> None:
        super().__init__(runs)
        self.maxlen = maxlen
        self._trim()

    def _trim(self) -> None:
        if len(self) > self.maxlen:
            del self[: len(self) - self.maxlen]

    def append(self, run: Run) -> None:
        if run.shown is not None:  # what a view draws is kept for the newest run only: memory stays flat
            for i in range(len(self) - 1, -1, -1):
                if self[i].shown is not None:
                    self[i] = replace(self[i], shown=None)
                    break
        super().append(run)
        self._trim()

    def extend(self, runs: Iterable[Run]) -> None:
        super().extend(runs)
        self._trim()


@dataclass(slots=True, kw_only=True, eq=False)
class CronJob:
    """A scheduled piece of code. Identity is the id; the scheduler owns the state."""

    id: str
    schedule: str
    code: str
    tz: str
    created_at: datetime
    name: str | None = None
    recurring: bool = True
    durable: bool = False
    paused: bool = False
    last_fired: datetime | None = None
    next_fire: datetime | None = None
    runs: int = 0
    failures: int = 0
    skips: int = 0
    coalesced: int = 0
    history: RunLog = field(default_factory=lambda: RunLog(maxlen=20))
    running: bool = False
    # The run-policy options (options.py), each read and set as an attribute of its name: job.retries.
    policy: dict[str, Any] = field(default_factory=dict)
    if TYPE_CHECKING:  # for the type checker: the attributes options.py declares (a test keeps them equal)
        # Not __init__ arguments: their values live in ``policy`` (properties installed at import).
        timeout: float | None = field(init=False)
        retries: int = field(init=False)
        retry_delay: float = field(init=False)
        catch_up: float | None = field(init=False)
    cell: str | None = None  # the notebook cell that declared it (its cellId): re-running that cell finds it
    compiled: Schedule | None = field(default=None, repr=False)  # None only until __post_init__ compiles it
    # Not saved: a retry waiting (which one, when, for which occurrence), and a catch-up fire planned at load.
    attempt: int = field(default=0, repr=False)
    retry_at: datetime | None = field(default=None, repr=False)
    retry_for: datetime | None = field(default=None, repr=False)
    catch_up_for: datetime | None = field(default=None, repr=False)
    declared_in: str | None = field(default=None, repr=False)  # the request that last declared it (declare.py)
    _gen: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if self.compiled is None:
            self.compiled = parse_schedule(self.schedule, self.tz, anchor=self.created_at)

    def definition(self) -> tuple[Any, ...]:
        """What a create declares (``definition_fields()``, in order): equal definitions are the same job re-run."""
        policy = self.policy
        return (
            self.schedule,
            self.code,
            self.tz,
            self.recurring,
            self.durable,
            *[policy.get(name, option.default) for name, option in OPTIONS.items()],
        )

    @property
    def label(self) -> str:
        return f"{self.id} ({self.name})" if self.name else self.id

    @property
    def last_run(self) -> Run | None:
        """The latest real run (skips and coalesce notes are not runs)."""
        for run in reversed(self.history):
            if run.status in ("ok", "error"):
                return run
        return None

    @property
    def state(self) -> str:
        if self.running:
            return "running"
        if self.paused:
            return "paused"
        last = self.last_run
        if last is not None and last.status == "error":
            return "error"
        return "active"

    @property
    def next_start(self) -> datetime | None:
        """When it next starts by itself (docs/running.md): a retry it waits for, which always comes before
        its next occurrence, else that occurrence; None while paused or with none ahead. The timer, the
        table, the live view, create's answer and ``%cron wait`` all read this one rule."""
        if self.paused:
            return None
        times = [t for t in (self.retry_at, self.next_fire) if t is not None]
        return min(times) if times else None

    @property
    def next_is_retry(self) -> bool:
        """The next start is a retry (``retry 1 of 3``), not an occurrence of the schedule."""
        return self.retry_at is not None and self.next_start == self.retry_at

    @property
    def description(self) -> str:
        assert self.compiled is not None  # __post_init__ compiled it
        return self.compiled.describe()

    # The load-time changes (docs/durable.md). The store calls these: a job's state changes only here
    # and in the scheduler, never field by field in another layer.

    def merge_runs(self, runs: Iterable[Run]) -> None:
        """Runs a journal kept since the last full save, in start order; the log keeps the newest."""
        merged = sorted([*self.history, *runs], key=lambda r: r.started_at)
        self.history.clear()
        self.history.extend(merged)

    def crashed(self, now: datetime, why: str) -> None:
        """Its run was going when its kernel died, maybe because of it: a failed run, and paused."""
        self.paused = True
        self.runs += 1
        self.failures += 1
        self.history.append(Run(started_at=now, status="error", output=why, error=why, occurrence=self.last_fired))

    def moved_past(self, t: datetime | None) -> None:
        """A load at ``t`` moved it past its downtime (the store's load marker says so): next fire after ``t``."""
        assert self.compiled is not None  # __post_init__ compiled it
        if t is not None and self.recurring and self.next_fire is not None and self.next_fire <= t:
            self.next_fire = self.compiled.next_after(t)

    def live_run(self) -> None:
        """Loaded while a run of it goes on in this very process (a session switched back): it is running,
        and a save keeps saying so (a kernel that dies in that run brings it back paused)."""
        self.running = True

    def hold(self) -> None:
        """Loaded over a policy limit (Cron.max_jobs): kept, paused, until the limit is raised and it resumed."""
        self.paused = True

    def rehydrate(self, now: datetime) -> bool:
        """Durable, and next fire the first occurrence after ``now`` — or, with ``--catch-up``, the last
        occurrence missed within its grace, run once at load; True if that changed the job."""
        assert self.compiled is not None  # __post_init__ compiled it
        before = (self.durable, self.next_fire)
        self.durable = True  # it is in the durable file, so it is durable
        if not self.recurring:
            if self.next_fire is None:  # its time is still ahead (the caller dropped it otherwise)
                self.next_fire = self.compiled.next_after(self.created_at)
        else:
            missed = self.missed_within_grace(now)
            self.next_fire = missed or self.compiled.next_after(now)
            self.catch_up_for = missed
        return (self.durable, self.next_fire) != before

    def missed_within_grace(self, now: datetime) -> datetime | None:
        """With --catch-up: the last occurrence missed since the saved next fire, if it is within the
        grace (default: one period of the schedule); else None."""
        if self.catch_up is None or self.next_fire is None or self.next_fire > now or self.paused:
            return None
        assert self.compiled is not None  # __post_init__ compiled it
        last = self.compiled.last_at_or_before(now, self.next_fire) or self.next_fire  # (next_fire, now], else it
        grace = self.catch_up or (self.compiled.next_after(last) - last).total_seconds()
        return last if (now - last).total_seconds() <= grace else None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "schedule": self.schedule,
            "code": self.code,
            "tz": self.tz,
            "recurring": self.recurring,
            "durable": self.durable,
            "paused": self.paused,
            "created_at": to_rfc3339(self.created_at),
            "last_fired": to_rfc3339(self.last_fired),
            "next_fire": to_rfc3339(self.next_fire),
            "runs": self.runs,
            "failures": self.failures,
            "skips": self.skips,
            "coalesced": self.coalesced,
            "history": [r.to_dict() for r in self.history],
        }
        for name, option in OPTIONS.items():  # written only when set: files without them load as they were
            value = self.policy.get(name, option.default)
            if value != option.default:
                d[name] = value
        if self.cell is not None:
            d["cell"] = self.cell
        if self.running:  # saved before the code starts: a kernel that dies now leaves this behind
            d["running"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], history_size: int = 20) -> CronJob:
        """Rebuild a job; raises (ValueError, KeyError, TypeError, ScheduleError) on a bad entry."""
        if not isinstance(d, dict):
            raise TypeError(f"a job entry must be an object, got {type(d).__name__}")
        job_id = d["id"]
        if not (isinstance(job_id, str) and len(job_id) == 8 and all(c in ID_ALPHABET for c in job_id)):
            raise ValueError(f"bad job id {job_id!r}")
        for key in ("schedule", "code", "tz"):
            if not isinstance(d[key], str):
                raise TypeError(f"{key} must be a string")
        name = d.get("name")
        if name is not None and not isinstance(name, str):
            raise TypeError("name must be a string or null")
        created = from_rfc3339(d["created_at"])
        if created is None:
            raise ValueError("created_at is missing: @every jobs are anchored on it")
        history = RunLog((Run.from_dict(r) for r in d.get("history", []) or []), maxlen=history_size)
        recurring = _flag(d, "recurring", True)
        return cls(
            id=job_id,
            name=name,
            schedule=d["schedule"],
            code=d["code"],
            tz=d["tz"],
            created_at=created,
            recurring=recurring,
            durable=_flag(d, "durable", True),
            paused=_flag(d, "paused", False),
            last_fired=from_rfc3339(d.get("last_fired")),
            next_fire=from_rfc3339(d.get("next_fire")),
            runs=_count(d, "runs"),
            failures=_count(d, "failures"),
            skips=_count(d, "skips"),
            coalesced=_count(d, "coalesced"),
            history=history,
            # Each checked as a create checks it (a LimitError, a ValueError, names what works).
            policy={name: o.check(d.get(name, o.default), recurring) for name, o in OPTIONS.items()},
            cell=_cell(d.get("cell")),
        )


# What a create declares beyond the name: a re-run create compares these (docs/running.md, "Create cells
# are declarations"), the table redraws a row's fixed cells when they change, and cron.json is rewritten.
BASE_DEFINITION = ("schedule", "code", "tz", "recurring", "durable")


def definition_fields() -> tuple[str, ...]:
    """BASE_DEFINITION, then every run-policy option (options.py), in the order they were declared."""
    return BASE_DEFINITION + tuple(OPTIONS)


def _attribute(option: Option) -> None:
    """``job.<name>``: the option's value (its default when the job was not given it)."""
    name, default = option.name, option.default

    def get(job: CronJob) -> Any:
        return job.policy.get(name, default)

    def put(job: CronJob, value: Any) -> None:
        job.policy[name] = value

    setattr(CronJob, name, property(get, put, doc=option.help))


on_register(_attribute)
MAX_CELL_ID = 200


def _cell(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and 0 < len(value) <= MAX_CELL_ID):
        return value
    raise TypeError(f"cell must be a cell id of at most {MAX_CELL_ID} characters or null")


_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def _images(value: Any) -> tuple[str, ...]:
    """What a saved run may hold as images: a few base64 PNGs of bounded size."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_IMAGES:
        raise TypeError(f"images must be a list of at most {MAX_IMAGES} base64 PNGs")
    for item in value:
        if not isinstance(item, str) or len(item) > MAX_IMAGE_CHARS or not _BASE64.match(item):
            raise TypeError("images must be base64 PNGs of at most 1 MiB")
    return tuple(value)


def _html(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_HTML:
        raise TypeError(f"html must be a list of at most {MAX_HTML} strings")
    if not all(isinstance(item, str) and len(item) <= MAX_HTML_CHARS for item in value):
        raise TypeError(f"html must be strings of at most {MAX_HTML_CHARS:,} characters")
    return tuple(clean_text(item) for item in value)


def _flag(d: dict[str, Any], key: str, default: bool) -> bool:
    value = d.get(key, default)
    if not isinstance(value, bool):
        raise TypeError(f"{key} must be true or false, got {value!r}")
    return value


def _count(d: dict[str, Any], key: str) -> int:
    value = d.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"{key} must be a non-negative integer, got {value!r}")
    return value
