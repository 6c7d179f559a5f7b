"""The durable store's companion file (docs/durable.md): per-fire state and run history, appended.

``cron.json`` holds job definitions, which change when the user acts; this
journal takes what changes on every fire. Each line is one JSON object:

- ``{"journal": G, "session": S}``: the header, first line; G is the generation,
  bumped by every compaction (a rewrite that keeps only live history);
- ``{"id": J, "run": {...}}``: one run (or skip, or coalesce note) of job J;
- ``{"id": J, "state": {...}}``: J's ``last_fired``, ``next_fire``, counters and
  whether a run is going, as of that line;
- ``{"id": "*loaded*", "state": {...}}``: a load marker (see ``LOADED_ID``).

``cron.json`` names the generation and the byte offset it already reflects:
state lines of that generation before the offset are older than the file and
ignored; run lines always count (the file keeps no history). A fire appends a
few hundred bytes of state (fsynced before the code starts) and then the run
itself, so the bytes per fire are the run's own output plus a bounded overhead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO, NamedTuple, TypeGuard

from ..core.job import CronJob, Run, RunLog, from_rfc3339, to_rfc3339
from .seal import journal_hash

JOURNAL_NAME = "cron.journal"
# One line is one run, whose output and error are each cut at Cron.output_limit
# (≤ 1,000,000 characters, ≤ 6 bytes each in JSON) plus at most 5 images of ≤ 1 MiB
# (base64): the longest line a save writes is under 20 MiB.
LINE_MAX = 32 << 20
# history_size × output_limit may not exceed this per job (Cron validates it where it is set):
# a job's live history stays what a kernel can hold and rewrite.
HISTORY_CHARS_MAX = 5_000_000
STATE_KEYS = ("last_fired", "next_fire", "runs", "failures", "skips", "coalesced", "running")


def encode_line(record: dict[str, Any]) -> bytes:
    """One journal line. Text is written as UTF-8 (not ``\\uXXXX``): a run's bytes stay its output's bytes."""
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8", "replace")


class State(NamedTuple):
    """What a state line holds, comparable: a line is written only when it changed."""

    last_fired: datetime | None
    next_fire: datetime | None
    runs: int
    failures: int
    skips: int
    coalesced: int
    running: bool


def state_of(job: CronJob, settled: bool = False) -> State:
    running = job.running and not settled
    # tuple.__new__ straight: NamedTuple's own __new__ is Python code, and a load asks this twice a job.
    return _new_state(State, (job.last_fired, job.next_fire, job.runs, job.failures, job.skips, job.coalesced, running))


_new_state = tuple.__new__


def state_record(job: CronJob, settled: bool = False) -> dict[str, Any]:
    last, nxt, runs, failures, skips, coalesced, running = state_of(job, settled)
    state = {
        "last_fired": to_rfc3339(last),
        "next_fire": to_rfc3339(nxt),
        "runs": runs,
        "failures": failures,
        "skips": skips,
        "coalesced": coalesced,
        "running": running,
    }
    return {"id": job.id, "state": state}


# A load marker: a state line of an id no job can have (ids are 8 letters and digits), whose
# last_fired is the time T of a load. It says that the load moved every job without a later state
# line whose next fire was at or before T to its first occurrence after T (and reported what it
# missed), so a load writes one line where it would write one per job moved past its downtime.
# A loopal_ipy without markers reads it as the state of a job that does not exist: ignored.
LOADED_ID = "*loaded*"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def marker_line(t: datetime) -> bytes:
    return state_line(LOADED_ID, State(t, None, 0, 0, 0, 0, False))


def state_line(job_id: str, state: State) -> bytes:
    """``encode_line(state_record(job))`` byte for byte, from ``state_of(job)``, five times faster (a load
    after downtime writes one per job). The id is 8 letters or digits; the counts are ints."""
    last, nxt, runs, failures, skips, coalesced, running = state
    return (
        f'{{"id":"{job_id}","state":{{"last_fired":{_time(last)},"next_fire":{_time(nxt)},"runs":{runs:d},'
        f'"failures":{failures:d},"skips":{skips:d},"coalesced":{coalesced:d},"running":{_BOOL[running]}}}}}\n'
    ).encode("ascii")


_BOOL = {True: "true", False: "false"}


def _time(t: Any) -> str:
    return "null" if t is None else f'"{to_rfc3339(t)}"'


def run_record(job_id: str, run: Run) -> dict[str, Any]:
    return {"id": job_id, "run": run.to_dict()}


@dataclass(slots=True)
class JournalRead:
    """What a journal held for the jobs of ``cron.json``."""

    generation: int | None = None  # None: no header (empty, or not a journal)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)  # latest applicable state per id
    runs: dict[str, RunLog] = field(default_factory=dict)  # the last history_size runs per id, as written
    bad: int = 0  # lines that are not valid records (the caller keeps the file's bytes aside)
    first_bad: int | None = None  # 1-based number of the first
    size: int = 0
    digest: hashlib.blake2b = field(default_factory=journal_hash)  # of every byte read
    whole_lines: bool = True  # the last byte read was a newline (or none was read): a line may be appended
    sizes: dict[int, int] = field(default_factory=dict)  # id(run) -> bytes of its line, for the runs in ``runs``
    loaded: list[datetime] = field(default_factory=list)  # the times of the load markers, in file order
    stated: dict[str, int] = field(default_factory=dict)  # id -> markers read before its latest state line

    def accounted(self, job_id: str) -> datetime | None:
        """Up to when a load marker says the job's occurrences were accounted for (see LOADED_ID), or None."""
        later = self.loaded[self.stated.get(job_id, 0) :]
        return max(later) if later else None


def read_journal(
    f: BinaryIO, *, generation: int, offset: int, history_size: int, prefix: hashlib.blake2b | None = None
) -> JournalRead:
    """Replay a journal; never raises on content, memory bounded by ``history_size`` runs per job.

    ``prefix``: cron.json's seal covers the first ``offset`` bytes (seal.py), and this is their digest,
    so they are not hashed again; the state lines there, which cron.json supersedes, are known good
    and skipped unread. (A journal cut below ``offset`` since leaves a digest of bytes it no longer
    has: the store never adopts a journal shorter than the offset.)
    """
    out = JournalRead()
    sealed = prefix is not None
    if prefix is not None:
        out.digest = prefix
    skip = offset if sealed else 0  # the digest holds the bytes before this
    update = out.digest.update
    pos = number = 0
    while line := f.readline(LINE_MAX + 1):
        start, pos, number = pos, pos + len(line), number + 1
        if start >= skip:
            update(line)
        elif pos > skip:
            update(line[skip - start :])
        out.whole_lines = line.endswith(b"\n")
        if sealed and pos <= offset and line[_STATE_FROM:_STATE_TO] == _STATE_AT and out.generation == generation:
            continue  # '{"id":"<8 chars>","state":...': older than cron.json, and sealed
        if len(line) > LINE_MAX:  # no save writes such a line: skip to its end
            while line and not line.endswith(b"\n"):
                line = f.readline(LINE_MAX)
                start, pos = pos, pos + len(line)
                update(line[max(0, skip - start) :])
            out.whole_lines = line.endswith(b"\n")
            _bad(out, number)
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            _bad(out, number)
            continue
        if number == 1 and _is_header(record):
            out.generation = record["journal"]
        elif not line.endswith(b"\n") or not _apply(out, record, start, len(line), (generation, offset), history_size):
            _bad(out, number)  # a last line cut short by a crash is bad too: its bytes are kept aside
    out.size = pos
    return out


# Where encode_line puts '","state":' in a state line (after '{"id":"' and the 8-character id): found by
# encoding one, so a change of the encoder moves it too.
_PROBE = encode_line({"id": "x" * 8, "state": {}})
_STATE_FROM = _PROBE.index(b'","state":')
_STATE_TO = _STATE_FROM + len(b'","state":')
_STATE_AT = _PROBE[_STATE_FROM:_STATE_TO]


def _is_header(record: Any) -> bool:
    return isinstance(record, dict) and type(record.get("journal")) is int and set(record) <= {"journal", "session"}


def _bad(out: JournalRead, number: int) -> None:
    out.bad += 1
    if out.first_bad is None:
        out.first_bad = number


def _apply(out: JournalRead, record: Any, start: int, size: int, seen: tuple[int, int], history_size: int) -> bool:
    """Take one record; False if it is not one. ``seen``: the generation and offset cron.json reflects;
    a newer journal than cron.json knows: all its state counts."""
    generation, offset = seen
    if not isinstance(record, dict) or not isinstance(record.get("id"), str) or len(record) != 2:
        return False
    job_id = record["id"]
    if "run" in record:
        try:
            run = Run.from_dict(record["run"])
        except Exception:  # any bad value makes a bad line
            return False
        out.runs.setdefault(job_id, RunLog(maxlen=history_size)).append(run)
        out.sizes[id(run)] = size  # a run trimmed away frees its id: only a later run can take it over
        return True
    state = record.get("state")
    if not _valid_state(state):
        return False
    newer = out.generation is not None and (
        out.generation > generation or (out.generation == generation and start >= offset)
    )
    if newer:
        if job_id == LOADED_ID:
            out.loaded.append(from_rfc3339(state["last_fired"]) or _EPOCH)
        else:
            out.states[job_id] = state
            out.stated[job_id] = len(out.loaded)
    return True


def _valid_state(state: Any) -> TypeGuard[dict[str, Any]]:
    """The types a job's fields need: a bad state line is a bad line, never a bad job."""
    if not isinstance(state, dict) or set(state) != set(STATE_KEYS) or type(state["running"]) is not bool:
        return False
    for key in ("runs", "failures", "skips", "coalesced"):
        if type(state[key]) is not int or state[key] < 0:
            return False
    try:
        from_rfc3339(state["last_fired"])
        from_rfc3339(state["next_fire"])
    except (ValueError, TypeError, OverflowError):
        return False
    return True


@dataclass(slots=True, eq=False)
class Track:
    """Which runs of one job's history the journal has: a save appends only the others."""

    history: RunLog  # held, so that its id cannot be reused while we compare against it
    length: int
    last: Run | None
    runs: dict[int, tuple[Run, int]]  # id(run) -> (run, bytes of its line); the runs are held too
    new: list[bytes]  # lines not written yet
    live: int  # bytes of the lines of the runs still in the history

    @classmethod
    def loaded(cls, runs: RunLog | tuple[()], sizes: dict[int, int]) -> Track:
        """What a load read: these runs are in the journal already (the first save finds them known)."""
        if not runs:
            return _NONE_READ  # shared: a save builds new tracks and never changes an old one
        known = {id(run): (run, sizes[id(run)]) for run in runs}
        return cls(RunLog(maxlen=0), -1, None, known, [], sum(size for _, size in known.values()))

    @classmethod
    def follow(cls, job: CronJob, old: Track | None) -> Track:
        history = job.history
        if not history:
            return _NONE_READ  # no runs: nothing to write or to hold
        last = history[-1]
        if old is not None and old.history is history and old.length == len(history) and old.last is last:
            return old if not old.new else cls(history, old.length, last, old.runs, [], old.live)
        known = old.runs if old is not None else {}
        runs: dict[int, tuple[Run, int]] = {}
        new: list[bytes] = []
        live = 0
        for run in history:
            got = known.get(id(run))
            if got is None:
                line = encode_line(run_record(job.id, run))
                new.append(line)
                got = (run, len(line))
            runs[id(run)] = got
            live += got[1]
        return cls(history, len(history), last, runs, new, live)


def definition(job: CronJob) -> tuple[Any, ...]:
    """What cron.json holds beyond state: a change to any of it rewrites the file."""
    return (job.name, *job.definition(), job.paused, job.created_at, job.cell)


_NONE_READ = Track(RunLog(maxlen=0), -1, None, {}, [], 0)
