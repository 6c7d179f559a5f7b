"""Hostile files (docs/durable.md): whatever lies in cron.json, load never raises and never destroys bytes.

Generated inputs are of three kinds: valid files with bytes flipped, cut,
inserted or spliced; random JSON shapes; and well-formed files whose job
entries have random fields swapped in. For each, ``load`` must return, every
quarantined file must hold exactly what was there (byte for byte for a whole
file, entry for entry for rejected entries), and a second load must find
nothing more to change.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from storeutil import SID, Warnings, write_raw

from loopal_ipy.core.clock import FakeClock
from loopal_ipy.core.job import Run
from loopal_ipy.core.limits import Settings
from loopal_ipy.core.scheduler import Scheduler
from loopal_ipy.storage.loadrules import LoadResult
from loopal_ipy.storage.store import Store

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _base_jobs() -> list[dict[str, Any]]:
    clock = FakeClock(START)
    sched = Scheduler(clock, Settings(timezone="UTC"))
    sched.create("@every 10s", "n = 1", durable=True, name="tick")
    sched.create("*/15 * * * *", "print('quarter')", durable=True, tz="Europe/Paris")
    sched.create("@every 1h", "once()", durable=True, once=True)
    sched.pause(sched.create("0 9 * * MON-FRI", "report()", durable=True).id)
    clock.advance(10)
    for fire in sched.due():
        sched.finish(fire.job, Run(started_at=clock.now(), output="é\n", occurrence=fire.occurrence))
    return [j.to_dict() for j in sched.jobs()]


BASE_JOBS = _base_jobs()
BASE_DOC = {"version": 1, "session": {"id": SID, "updated_at": "2026-01-05T12:00:10Z"}, "jobs": BASE_JOBS}
BASE_BYTES = json.dumps(BASE_DOC, indent=1).encode()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated_bytes(draw: st.DrawFn) -> bytes:
    data = bytearray(BASE_BYTES)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "delete", "splice"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 40))]
        else:
            other = draw(st.integers(0, len(BASE_BYTES)))
            data[pos:pos] = BASE_BYTES[other : other + draw(st.integers(1, 200))]
    return bytes(data)


NAMES = ["tick", "tick", "a b", "9lives", "x" * 65, "café", "\ud800", "", "ok_name"]
CODES = ["x = (", "1+" * 30000 + "1", "-" * 70000 + "1", "x = '\ud800'", "", "   ", "await x", "%time 1", "pass"]
ODD_TEXT = ["\ud800", "a\udcffb", "\x00\x01", "é" * 3, "\ufffd"]
times = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC))


@st.composite
def mutated_entries(draw: st.DrawFn) -> bytes:
    """Well-formed files whose entries are kept, retimed, re-flagged, broken or duplicated."""
    jobs: list[Any] = [dict(j) for j in draw(st.lists(st.sampled_from(BASE_JOBS), max_size=8))]
    for job in jobs:
        how = draw(st.sampled_from(["keep", "keep", "retime", "flags", "break", "drop-key", "name", "code", "text"]))
        if how == "retime":
            for key in ("created_at", "last_fired", "next_fire"):
                if draw(st.booleans()):
                    job[key] = (
                        draw(st.none() | times.map(lambda t: t.isoformat()))
                        if key != "created_at"
                        else draw(times).isoformat()
                    )
        elif how == "flags":
            for key in ("recurring", "paused", "durable"):
                job[key] = draw(st.booleans())
        elif how == "break":
            job[draw(st.sampled_from(sorted(job)))] = draw(json_values)
        elif how == "drop-key":
            job.pop(draw(st.sampled_from(sorted(job))))
        elif how == "name":  # bad syntax, or a name an earlier entry has
            job["name"] = draw(st.sampled_from(NAMES) | st.text(max_size=10))
        elif how == "code":  # code that does not compile (any more), or is too long
            job["code"] = draw(st.sampled_from(CODES) | st.text(max_size=20))
        elif how == "text":  # non-UTF-8 text from a job's output, kept in its history
            for run in job.get("history") or []:
                if isinstance(run, dict):
                    run["output"] = draw(st.sampled_from(ODD_TEXT))
    jobs += draw(st.lists(json_values, max_size=1))
    doc: Any = {"version": draw(st.sampled_from([1, 1, 1, 1, 2, 0, "1", None])), "jobs": jobs}
    if draw(st.booleans()):
        doc["session"] = draw(st.sampled_from([{"id": SID}, {}, {}, [], "x"]))
    return json.dumps(doc).encode()


files = st.one_of(  # one_of picks branches about evenly: repeat the one that reaches the load rules
    mutated_bytes(),
    mutated_entries(),
    mutated_entries(),
    mutated_entries(),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.just(BASE_BYTES),
)


def _outcome(result: LoadResult) -> str:
    if result.read_only:
        return "latched read-only"
    if result.quarantined and not result.jobs and not result.dropped:
        return "whole file quarantined"
    if result.dropped:
        return "entries dropped" + (" and preserved" if result.quarantined else "")
    return "loaded " + ("with changes" if result.changed else "unchanged")


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _check_quarantine(result: LoadResult, original: bytes) -> None:
    for path in result.quarantined:
        kept = path.read_bytes()
        if kept == original:
            continue  # a whole file moved aside, bytes untouched
        rejected = json.loads(kept)
        assert rejected["kind"] == "loopal_ipy rejected entries"
        entries = json.loads(original.decode("utf-8-sig"))["jobs"]
        for item in rejected["entries"]:
            assert _canon(item["entry"]) == _canon(entries[item["index"]])


@given(raw=files, offset=st.sampled_from([0, 5, 3600, 86400]), max_jobs=st.sampled_from([2, 50]))
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_load_never_raises_and_never_destroys_bytes(raw: bytes, offset: int, max_jobs: int) -> None:
    now = START + timedelta(seconds=offset)
    with tempfile.TemporaryDirectory() as tmp:
        warned = Warnings()
        store = Store(Path(tmp), SID, max_jobs=max_jobs, warn=warned)
        write_raw(store, raw)
        result = store.load(now)
        event(_outcome(result))
        assert isinstance(result.summary(), str) and "\n" not in result.summary()
        _check_quarantine(result, raw)
        # A policy limit loses nothing: jobs past it are held, paused, never more than the limit active.
        assert len([j for j in result.jobs if not j.paused]) <= result.limit
        assert not result.jobs or result.limit >= max_jobs
        assert len(result.held) <= max(0, len(result.jobs) - result.limit)
        assert len({j.id for j in result.jobs}) == len(result.jobs)
        assert all(j.next_fire is not None and j.next_fire > now for j in result.jobs if not j.paused)
        names = [j.name for j in result.jobs if j.name]
        assert len(names) == len(set(names))  # names stay unique, as a create keeps them
        for job in result.jobs:  # what loads is valid text and code that compiles
            job.code.encode("utf-8")
            compile(job.code, "<check>", "exec", flags=0x2000)  # ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
            for run in job.history:
                run.output.encode("utf-8")
        if result.read_only:  # nothing is ever written over a latched store
            assert store.path.read_bytes() == raw and result.quarantined == []
            return
        if not result.changed:
            assert store.path.read_bytes() == raw  # an unchanged file is never rewritten
            return
        again = Store(Path(tmp), SID, max_jobs=max_jobs, warn=warned).load(now)
        assert again.changed is False and again.dropped == [] and again.quarantined == []
        assert [j.to_dict() for j in again.jobs] == [j.to_dict() for j in result.jobs]


def _base_store_files() -> tuple[bytes, bytes]:
    """cron.json and cron.journal as a save writes them, with a few fires of history."""
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(START)
        sched = Scheduler(clock, Settings(timezone="UTC"))
        store = Store(Path(tmp), SID)
        sched.create("@every 10s", "n = 1", durable=True, name="tick")
        sched.create("*/15 * * * *", "print('quarter')", durable=True, tz="Europe/Paris")
        store.save(sched.jobs(), clock.now())
        for _ in range(4):
            clock.advance(10)
            for fire in sched.due():
                store.save(sched.jobs(), clock.now())
                sched.finish(fire.job, Run(started_at=clock.now(), output="é\n", occurrence=fire.occurrence))
            store.save(sched.jobs(), clock.now())
        return store.path.read_bytes(), store.journal_path.read_bytes()


BASE_CRON, BASE_JOURNAL = _base_store_files()


@st.composite
def mutated_journals(draw: st.DrawFn) -> bytes:
    lines = BASE_JOURNAL.splitlines(keepends=True)
    how = draw(st.sampled_from(["bytes", "lines", "records"]))
    if how == "bytes":
        data = bytearray(BASE_JOURNAL)
        for _ in range(draw(st.integers(1, 4))):
            if len(data) < 2:
                break
            pos = draw(st.integers(0, len(data) - 1))
            kind = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
            if kind == "flip":
                data[pos] ^= 1 << draw(st.integers(0, 7))
            elif kind == "cut":
                del data[max(pos, 1) :]
            elif kind == "insert":
                data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
            else:
                del data[pos : pos + draw(st.integers(1, 40))]
        return bytes(data)
    if how == "lines":  # reorder, repeat or drop whole lines
        picked = draw(st.lists(st.sampled_from(lines), max_size=len(lines) + 3))
        return b"".join(picked)
    # well-formed lines with hostile records in them
    extra = draw(
        st.lists(
            st.fixed_dictionaries({"id": st.sampled_from(["zzzzzzzz", "tick", *[json.loads(lines[1])["id"]]])}).flatmap(
                lambda d: st.fixed_dictionaries({**{k: st.just(v) for k, v in d.items()}, "run": json_values})
            )
            | st.fixed_dictionaries({"id": st.text(max_size=9), "state": json_values})
            | json_values,
            max_size=4,
        )
    )
    return b"".join(lines) + b"".join(json.dumps(e).encode() + b"\n" for e in extra)


@given(journal=mutated_journals(), offset=st.sampled_from([0, 3600]))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_hostile_journal_never_raises_and_never_destroys_bytes(journal: bytes, offset: int) -> None:
    now = START + timedelta(seconds=40 + offset)
    with tempfile.TemporaryDirectory() as tmp:
        warned = Warnings()
        store = Store(Path(tmp), SID, warn=warned)
        write_raw(store, BASE_CRON)
        store.journal_path.write_bytes(journal)
        store.journal_path.chmod(0o600)
        result = store.load(now)
        event("journal set aside" if result.quarantined else "journal loaded")
        for path in result.quarantined:
            assert path.read_bytes() == journal  # the whole journal, byte for byte
        assert sorted(j.name or "" for j in result.jobs) == ["", "tick"]  # cron.json's jobs always load
        for job in result.jobs:
            for run in job.history:
                run.output.encode("utf-8")
        again = Store(Path(tmp), SID, warn=warned).load(now)
        assert again.quarantined == [] and [j.to_dict() for j in again.jobs] == [j.to_dict() for j in result.jobs]
