"""The store's bytes per fire (docs/durable.md): definitions in cron.json, fires appended.

Before, every fire rewrote (and fsynced) the whole file, every job's history
included: 20 jobs printing 5,000 characters a second wrote 380 MB–2.1 GB a
minute. Here a fire appends its state and its run to ``cron.journal``; the
file is rewritten only when a definition changes or the journal is compacted.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from storeutil import SID, bad_files, write_raw

from loopal_ipy.core.clock import FakeClock
from loopal_ipy.core.job import CronJob, Run
from loopal_ipy.core.limits import Settings
from loopal_ipy.core.scheduler import Scheduler
from loopal_ipy.storage.journal import (
    HISTORY_CHARS_MAX,
    JOURNAL_NAME,
    LINE_MAX,
    encode_line,
    marker_line,
    state_line,
    state_of,
    state_record,
)
from loopal_ipy.storage.store import COMPACT_SLACK, Store


def fire_all(sched: Scheduler, store: Store, output: str = "", seconds: float = 1.0) -> None:
    """One scheduler step as the kernel takes it: advance, fire, save, run, finish, save."""
    sched.clock.advance(seconds)
    fires = sched.due()
    assert store.save(sched.jobs(), sched.clock.now())  # last_fired and "running" before the code starts
    for fire in fires:
        sched.finish(fire.job, Run(started_at=sched.clock.now(), output=output, occurrence=fire.occurrence))
    assert store.save(sched.jobs(), sched.clock.now())


def state(jobs) -> list[tuple]:
    return [(j.id, j.last_fired, j.next_fire, j.runs, j.failures, j.skips, j.paused, list(j.history)) for j in jobs]


def test_a_fire_appends_its_run_and_never_rewrites_cron_json(make_store, sched) -> None:
    jobs = [sched.create("@every 1s", f"print({i})", durable=True) for i in range(20)]
    store = make_store()
    assert store.save(jobs, sched.clock.now())
    inode = os.stat(store.path).st_ino
    size = store.journal_path.stat().st_size
    for _ in range(30):
        fire_all(sched, store, output="x" * 5000)
    assert os.stat(store.path).st_ino == inode, "cron.json was rewritten by a fire"
    assert store.saves == {"full": 1, "definitions": 0, "appends": 60}
    grown = store.journal_path.stat().st_size - size
    fires = 20 * 30
    assert 5000 * fires < grown <= 5000 * fires + 1024 * fires, grown  # the output plus < 1 KB a fire
    loaded = make_store().load(sched.clock.now())
    assert state(loaded.jobs) == state(jobs)


def test_non_ascii_output_costs_its_utf8_bytes_not_escapes(make_store, sched) -> None:
    store = make_store()
    assert store.save([sched.create("@every 1s", "p()", durable=True)], sched.clock.now())
    size = store.journal_path.stat().st_size
    fire_all(sched, store, output="█" * 5000)  # 15,000 bytes in UTF-8; 30,000 as \\u2588 escapes
    assert 15_000 < store.journal_path.stat().st_size - size < 16_000


def test_fire_state_is_fsynced_before_the_run_and_the_run_after(make_store, sched, monkeypatch) -> None:
    store = make_store()
    assert store.save([sched.create("@every 1s", "p()", durable=True)], sched.clock.now())
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
    sched.clock.advance(1)
    fires = sched.due()
    assert store.save(sched.jobs(), sched.clock.now())
    assert len(synced) == 1, "the fire's state did not reach the disk before the code"
    on_disk = make_store().load(sched.clock.now(), live_runs=[fires[0].job.id]).jobs[0]
    assert on_disk.last_fired == fires[0].occurrence
    sched.finish(fires[0].job, Run(started_at=sched.clock.now(), output="done"))
    assert store.save(sched.jobs(), sched.clock.now())
    assert len(synced) == 1, "a finished run need not wait for the disk"


def test_a_definition_change_rewrites_cron_json_and_older_state_lines_are_ignored(make_store, sched) -> None:
    job = sched.create("@every 1s", "p()", durable=True)
    store = make_store()
    assert store.save([job], sched.clock.now())
    for _ in range(5):
        fire_all(sched, store, "out")
    sched.pause(job.id)
    assert store.save(sched.jobs(), sched.clock.now())
    assert store.saves["definitions"] == 1
    doc = json.loads(store.path.read_text())
    assert doc["jobs"][0]["paused"] is True and doc["jobs"][0]["runs"] == 5
    assert doc["journal"]["offset"] == store.journal_path.stat().st_size
    sched.resume(job.id)
    fire_all(sched, store, "after")
    loaded = make_store().load(sched.clock.now()).jobs
    assert state(loaded) == state([job])


def test_the_journal_is_compacted_and_stays_bounded(make_store, sched) -> None:
    sched.set_settings(history_size=5)
    jobs = [sched.create("@every 1s", "p()", durable=True) for _ in range(3)]
    store = make_store(history_size=5)
    assert store.save(jobs, sched.clock.now())
    live = 0
    for _ in range(400):
        fire_all(sched, store, "y" * 3000)
        size = store.journal_path.stat().st_size
        live = 3 * 5 * 3100
        assert size <= 2 * live + COMPACT_SLACK + 3 * 4000, size
    assert store.saves["full"] >= 3
    loaded = make_store(history_size=5).load(sched.clock.now())
    assert state(loaded.jobs) == state(jobs) and loaded.warnings == []
    assert [len(j.history) for j in loaded.jobs] == [5, 5, 5]


def test_a_crash_between_the_compacted_journal_and_cron_json_keeps_the_newest_state(make_store, sched) -> None:
    job = sched.create("@every 1s", "p()", durable=True)
    store = make_store()
    assert store.save([job], sched.clock.now())
    fire_all(sched, store, "a")
    real = store._write_bytes

    def journal_only(path: Path, data: bytes) -> None:
        if path.name.startswith("cron.json"):
            raise OSError(28, "No space left on device")
        real(path, data)

    store._write_bytes = journal_only
    store._full = True  # the next save compacts
    sched.clock.advance(1)
    sched.due()
    assert store.save([job], sched.clock.now()) is False  # new journal written, cron.json not
    loaded = make_store().load(sched.clock.now(), live_runs=[job.id]).jobs
    assert loaded[0].last_fired == job.last_fired and loaded[0].runs == 1


def test_stores_written_before_the_journal_load_unchanged(make_store, sched, clock) -> None:
    """Version 1 files keep the history inside cron.json: they load as they were, then move over."""
    job = sched.create("@every 1m", "print('hi')", durable=True, name="old")
    clock.advance(60)
    sched.due()
    sched.finish(job, Run(started_at=clock.now(), output="hi\n"))
    entry = job.to_dict()
    store = make_store()
    write_raw(store, {"version": 1, "session": {"id": SID, "updated_at": None}, "jobs": [entry]})
    result = store.load(clock.now())
    assert state(result.jobs) == state([job]) and result.warnings == [] and result.changed is False
    assert store.save(result.jobs, clock.now())
    assert json.loads(store.path.read_text())["version"] == 2
    assert state(make_store().load(clock.now()).jobs) == state([job])


def test_unreadable_journal_lines_are_set_aside_whole_and_the_rest_loads(make_store, sched, warned) -> None:
    job = sched.create("@every 1s", "p()", durable=True)
    store = make_store()
    assert store.save([job], sched.clock.now())
    fire_all(sched, store, "kept")
    with open(store.journal_path, "ab") as f:
        f.write(b'{"id": "zz", "run": {"started_at": 5}}\nnot json\n\xff\xfe\n{"id": "' + job.id.encode() + b'", "ru')
    raw = store.journal_path.read_bytes()
    result = make_store().load(sched.clock.now())
    assert [list(j.history) for j in result.jobs] == [list(job.history)]
    aside = sorted(store.directory.glob(JOURNAL_NAME + ".bad-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == raw
    assert any("4 lines of" in w and "kept a copy as" in w for w in warned), warned
    assert make_store().load(sched.clock.now()).warnings == []  # the fresh journal is clean


def test_a_missing_journal_is_said(make_store, sched, warned) -> None:
    job = sched.create("@every 1s", "p()", durable=True)
    store = make_store()
    assert store.save([job], sched.clock.now())
    fire_all(sched, store, "x")
    store.journal_path.unlink()
    result = make_store().load(sched.clock.now())
    assert [j.id for j in result.jobs] == [job.id]
    assert any("cron.journal is missing" in w for w in warned), warned


@pytest.mark.parametrize("fault", ["symlink", "group-writable"])
def test_an_untrusted_journal_is_never_run(make_store, sched, tmp_path, fault) -> None:
    job = sched.create("@every 1s", "p()", durable=True)
    store = make_store()
    assert store.save([job], sched.clock.now())
    if fault == "symlink":
        elsewhere = tmp_path / "planted.journal"
        shutil.copy(store.journal_path, elsewhere)
        store.journal_path.unlink()
        os.symlink(elsewhere, store.journal_path)
    else:
        store.journal_path.chmod(0o660)
    result = make_store().load(sched.clock.now())
    assert result.read_only and result.jobs == [] and [j.id for j in result.untrusted] == [job.id]


def test_the_biggest_history_the_settings_allow_saves_and_loads(make_store, sched) -> None:
    """The saver never writes what the loader refuses, whatever the text."""
    worst = "\x01" * (HISTORY_CHARS_MAX // 5)  # 6 bytes each in JSON: the costliest character
    sched.set_settings(history_size=5, output_limit=len(worst))
    jobs = [sched.create("@every 1s", "p()", durable=True) for _ in range(2)]
    store = make_store(history_size=5)
    assert store.save(jobs, sched.clock.now())
    for _ in range(5):
        sched.clock.advance(1)
        for fire in sched.due():
            sched.finish(fire.job, Run(started_at=sched.clock.now(), output=worst, error="😀" * len(worst)))
        assert store.save(sched.jobs(), sched.clock.now())
    assert max(map(len, store.journal_path.read_bytes().splitlines())) <= LINE_MAX
    result = make_store(history_size=5).load(sched.clock.now())
    assert result.warnings == [] and state(result.jobs) == state(jobs)


KILLS = 120


def _appender(home: Path) -> None:  # pragma: no cover - the child, ended by SIGKILL
    clock = FakeClock("2026-01-05T12:00:00+00:00")
    sched = Scheduler(clock, Settings(timezone="UTC"))
    store = Store(home, SID, warn=lambda m: None)
    loaded = store.load(clock.now()).jobs
    for job in loaded:  # go on from the last saved fire (the fake clock restarts with each child)
        clock.set(max(clock.now(), job.last_fired or clock.now()))
        job.paused = False
        job.next_fire = job.compiled.next_after(clock.now())
    for job in loaded:
        sched.add(job)
    if not loaded:
        sched.create("@every 1s", "p()", durable=True)
        store.save(sched.jobs(), clock.now())
    while True:
        fire_all(sched, store, "z" * 20_000)


def test_sigkill_during_appends_never_loses_or_rewinds_a_saved_fire(tmp_path: Path) -> None:
    home = tmp_path / "home"
    rng = random.Random(15)
    runs_seen = 0
    aside = 0
    kills = 0
    # At least KILLS kills, and on until 50 runs were saved: a starved child may save nothing before its kill.
    while kills < KILLS or (runs_seen <= 50 and kills < 10 * KILLS):
        kills += 1
        pid = os.fork()
        if pid == 0:  # pragma: no cover
            try:
                _appender(home)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.005, 0.04))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        copy = tmp_path / "copy"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(home, copy)
        result = Store(copy, SID, warn=lambda m: None).load(FakeClock("2030-01-01T00:00:00+00:00").now())
        aside += sum(1 for w in result.warnings if "could not be read" in w)  # a line cut by the kill
        if not result.jobs:
            assert runs_seen == 0, "the job vanished"
            continue
        job = result.jobs[0]
        assert job.runs >= runs_seen - 1, (job.runs, runs_seen)  # the running one may be paused as stuck
        runs_seen = max(runs_seen, job.runs)
    assert runs_seen > 50, runs_seen
    print(f"{kills} kills: {runs_seen} runs, {aside} loads set a cut line aside")


def test_a_journal_older_than_the_definitions_changes_nothing(make_store, sched) -> None:
    """cron.json names a newer generation (a hostile or restored file): its state wins, runs still load."""
    job = sched.create("@every 1s", "p()", durable=True)
    store = make_store()
    assert store.save([job], sched.clock.now())
    fire_all(sched, store, "x")
    doc = json.loads(store.path.read_text())
    doc["journal"]["generation"] += 5
    store.path.write_text(json.dumps(doc))
    loaded = make_store().load(sched.clock.now()).jobs
    assert loaded[0].runs == 0 and [r.output for r in loaded[0].history] == ["x"]


def test_a_runs_images_are_kept_and_bad_ones_refused(make_store, sched) -> None:
    import base64

    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 100).decode()
    job = sched.create("@every 1s", "plot()", durable=True)
    store = make_store()
    assert store.save([job], sched.clock.now())
    sched.clock.advance(1)
    [_fire] = sched.due()
    sched.finish(job, Run(started_at=sched.clock.now(), output="drew", images=(png,), html=("<b>hi</b>",)))
    assert store.save([job], sched.clock.now())
    back = make_store().load(sched.clock.now()).jobs[0].history[-1]
    assert back.images == (png,) and back.html == ("<b>hi</b>",)
    for bad in (["not base64!"], [png] * 6, [123], "x"):
        with pytest.raises(TypeError, match="images must be"):
            Run.from_dict({**Run(started_at=sched.clock.now()).to_dict(), "images": bad})


def test_a_big_store_appends_a_fire_and_a_load_appends_what_it_moved(make_store, clock) -> None:
    """8,000 jobs' own state lines (~1.2 MB) are over the compaction slack (1 MiB) by
    themselves; a fire still appends one line, never rewrites both files. And a load after downtime,
    which moves every job's next fire, appends one load marker instead of rewriting (or of a line a job)."""
    sched = Scheduler(clock, Settings(timezone="UTC", max_jobs=10_000))
    for _ in range(8000):
        sched.create("@every 1h", "pass", durable=True)
    store = make_store(max_jobs=10_000)
    assert store.save(sched.jobs(), clock.now())
    assert store.journal_path.stat().st_size > COMPACT_SLACK
    fire_all(sched, store, seconds=3600)  # all 8,000 fire: their states change
    assert store.saves == {"full": 1, "definitions": 0, "appends": 2}
    clock.advance(7200)  # the kernel is down for two hours
    before = (store.path.read_bytes(), store.journal_path.stat().st_size)
    loading = make_store(max_jobs=10_000)
    result = loading.load(clock.now())
    assert result.changed and sum(result.missed.values()) == 8000 * 2
    assert loading.saves == {"full": 0, "definitions": 0, "appends": 1}
    assert store.path.read_bytes() == before[0]
    appended = store.journal_path.read_bytes()[before[1] :]
    assert appended == marker_line(clock.now())
    again = make_store(max_jobs=10_000).load(clock.now())
    assert not again.changed and again.missed == {}
    assert state(again.jobs) == state(result.jobs)


@given(
    last=st.none() | st.datetimes(timezones=st.timezones()),
    nxt=st.none() | st.datetimes(timezones=st.timezones()),
    counts=st.tuples(*[st.integers(0, 2**63)] * 4),
    running=st.booleans(),
)
def test_the_fast_state_line_is_the_json_one_byte_for_byte(last, nxt, counts, running) -> None:
    """state_line writes what encode_line(state_record(...)) wrote, for any state (the oracle)."""
    created = datetime(2026, 1, 1, tzinfo=UTC)
    job = CronJob(id="ab12cd34", schedule="@every 1s", code="pass", tz="UTC", created_at=created)
    job.last_fired, job.next_fire, job.running = last, nxt, running
    job.runs, job.failures, job.skips, job.coalesced = counts
    assert state_line(job.id, state_of(job)) == encode_line(state_record(job))


@given(t=st.datetimes(timezones=st.just(UTC)) | st.datetimes(timezones=st.timezones()))
def test_rfc3339_of_a_utc_time_takes_the_short_way_to_the_same_text(t) -> None:
    from loopal_ipy.core.job import from_rfc3339, to_rfc3339

    try:
        expected = t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    except OverflowError:
        return  # a local time near year 1 or 9999 that has no UTC instant
    assert to_rfc3339(t) == expected
    if t.tzinfo is UTC:
        assert from_rfc3339(expected) == t  # (a local time in a fold compares by wall time: not here)


def test_load_markers_say_what_each_load_moved_and_nothing_is_missed_twice(make_store, clock) -> None:
    """A load after downtime writes one marker; a job that fired since states itself after it; a catch-up
    job states itself; loads after more downtime count each job's misses once, from the right point."""
    sched = Scheduler(clock, Settings(timezone="UTC"))
    sched.create("@every 1h", "a = 1", durable=True, name="hourly")
    sched.create("*/1 * * * *", "b = 1", durable=True, name="minutely")
    paused = sched.create("@every 1h", "c = 1", durable=True, name="paused")
    sched.pause(paused.id)
    sched.create("@every 1h", "d = 1", durable=True, name="caught", catch_up=0)
    store = make_store()
    assert store.save(sched.jobs(), clock.now())
    clock.advance(3 * 3600 + 30)  # down 3 h
    first = make_store()
    one = first.load(clock.now())
    assert {j.name: c for j in one.jobs for i, c in one.missed.items() if i == j.id} == {
        "hourly": 3, "minutely": 180, "caught": 3}  # fmt: skip
    added = store.journal_path.read_bytes().split(marker_line(clock.now()))
    assert len(added) == 2 and added[1].count(b'"state":') == 1  # the marker, then the catch-up job's own line
    # the kernel runs 10 minutes: minutely fires (its state follows the marker); then down 2 h
    live = {j.name: j for j in one.jobs}
    for _ in range(10):
        clock.advance(60)
        job = live["minutely"]
        job.last_fired, job.next_fire, job.runs = clock.now(), job.compiled.next_after(clock.now()), job.runs + 1
        assert first.save(one.jobs, clock.now())
    expected_next = {j.name: j.next_fire for j in one.jobs}
    again = make_store().load(clock.now())  # no downtime: the disk says what memory held
    names = {j.id: j.name for j in again.jobs}
    assert [names[i] for i in again.missed] == ["caught"]  # its catch-up is still to run: nothing else
    assert {j.name: j.next_fire for j in again.jobs} == expected_next
    clock.advance(2 * 3600)
    two = make_store().load(clock.now())
    counts = {j.name: two.missed.get(j.id, 0) for j in two.jobs}
    assert counts == {"hourly": 2, "minutely": 120, "paused": 0, "caught": counts["caught"]}
    assert two.warnings == [] and not bad_files(store)
    status, shown = make_store().peek()  # `loopal-ipy jobs` reads the markers too
    assert status == "ok" and {j.name: j.next_fire for j in shown} == {j.name: j.next_fire for j in two.jobs}
    three = make_store().load(clock.now())
    assert [names[i] for i in three.missed] == ["caught"]  # still waiting for its catch-up run: only it


def test_a_marker_is_a_state_line_an_older_reader_ignores(make_store, sched, clock) -> None:
    """The marker is a valid state line of an id no job can have: an older loopal_ipy keeps it as the
    state of a job that does not exist, never as a bad line (its journal is not set aside)."""
    from loopal_ipy.storage.journal import LOADED_ID, read_journal

    line = marker_line(clock.now())
    assert line.startswith(b'{"id":"' + LOADED_ID.encode() + b'","state":')
    header = b'{"journal":1,"session":"' + SID.encode() + b'"}\n'
    import io

    read = read_journal(io.BytesIO(header + line), generation=1, offset=0, history_size=20)
    assert read.bad == 0 and read.loaded == [clock.now()] and read.states == {}


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00.000000Z"])
def test_a_hostile_load_marker_never_drops_a_job(make_store, sched, clock, when) -> None:
    """A marker a save never wrote (a time at the end of the calendar, where no next occurrence
    exists): the job keeps its own state and loads; nothing is set aside or dropped."""
    job = sched.create("@every 1h", "x = 1", durable=True, name="kept")
    store = make_store()
    assert store.save(sched.jobs(), clock.now())
    with open(store.journal_path, "ab") as f:
        f.write(b'{"id":"*loaded*","state":{"last_fired":"' + when.encode() + b'","next_fire":null,'
                b'"runs":0,"failures":0,"skips":0,"coalesced":0,"running":false}}\n')  # fmt: skip
    clock.advance(7200)
    result = make_store().load(clock.now())
    assert [j.name for j in result.jobs] == ["kept"] and result.dropped == [] and not bad_files(store)
    assert result.jobs[0].id == job.id and result.jobs[0].next_fire > clock.now()


def test_a_load_whose_append_fails_keeps_its_jobs_and_the_next_save_rewrites(make_store, sched, clock, warned) -> None:
    """The load's own append (its marker) meets a full disk: the jobs load all the same, the store says
    it could not save and is dirty, and the next save rewrites both files, so that a later load finds
    every job where this one left it and counts no miss twice."""
    import errno

    for i in range(3):
        sched.create("@every 1h", f"x = {i}", durable=True)
    assert make_store().save(sched.jobs(), clock.now())
    clock.advance(7200 + 30)
    loading = make_store()

    def full(data: bytes, *, fsync: bool) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    loading._append = full
    result = loading.load(clock.now())
    assert len(result.jobs) == 3 and sum(result.missed.values()) == 6
    assert loading.dirty and "could not save durable jobs" in warned[-1] and "space" in warned[-1]
    del loading._append
    assert loading.save(result.jobs, clock.now()) and loading.saves["full"] == 1
    again = make_store().load(clock.now())
    assert again.missed == {} and not again.changed
    assert {j.id: j.next_fire for j in again.jobs} == {j.id: j.next_fire for j in result.jobs}


def test_a_journal_cut_below_cron_jsons_offset_is_rewritten_and_nothing_runs_twice(make_store, clock) -> None:
    """The journal lost its tail (a power cut took appends that were not fsynced) below the offset
    cron.json names: a load must not append there (lines below the offset are older than cron.json
    to the next load, so misses were reported on every load and a caught-up occurrence ran again)."""
    sched = Scheduler(clock, Settings(timezone="UTC"))
    caught = sched.create("@every 1h", "c = 1", durable=True, name="caught", catch_up=0)
    store = make_store()
    assert store.save(sched.jobs(), clock.now())
    fire_all(sched, store, seconds=3600, output="x" * 10_000)
    sched.create("@every 1h", "b = 1", durable=True, name="other")
    assert store.save(sched.jobs(), clock.now())  # a definition change: cron.json's offset is the journal's end
    data = store.journal_path.read_bytes()
    os.truncate(store.journal_path, data.rfind(b'{"id":"' + caught.id.encode() + b'","run"'))
    clock.advance(5400)
    loading = make_store()
    first = loading.load(clock.now())
    assert sum(first.missed.values()) == 2  # 14:00 of each
    live = Scheduler(clock, Settings(timezone="UTC"))
    for job in first.jobs:
        live.take_in(job)
    fires = live.due()
    assert [(f.job.name, f.occurrence) for f in fires] == [("caught", datetime(2026, 1, 5, 14, tzinfo=UTC))]
    assert loading.save(live.jobs(), clock.now())
    for fire in fires:
        live.finish(fire.job, Run(started_at=clock.now(), output="ran", occurrence=fire.occurrence))
    assert loading.save(live.jobs(), clock.now())
    clock.advance(60)
    again = make_store().load(clock.now())
    assert again.missed == {} and not again.changed
    assert {j.name: (j.runs, j.next_fire, j.catch_up_for) for j in again.jobs} == {
        j.name: (j.runs, j.next_fire, None) for j in live.jobs()}  # fmt: skip


def test_a_catch_up_the_load_planned_is_not_moved_by_its_marker(make_store, clock) -> None:
    """A catch-up job whose planned catch-up is its saved next fire (its state unchanged by the load)
    states itself after the load's marker: a restart before the catch-up ran plans it again, and the
    marker another job needed never moves it past that occurrence unreported."""
    sched = Scheduler(clock, Settings(timezone="UTC"))
    sched.create("@every 1h", "a = 1", durable=True, name="plain")
    sched.create("@every 1h", "c = 1", durable=True, name="caught", catch_up=0)
    assert make_store().save(sched.jobs(), clock.now())
    clock.advance(5400)  # down 1.5 h: the one occurrence missed (13:00) is the saved next fire
    one, two = make_store().load(clock.now()), make_store().load(clock.now())
    thirteen = datetime(2026, 1, 5, 13, tzinfo=UTC)
    for result in (one, two):
        assert {j.name: (j.next_fire, j.catch_up_for) for j in result.jobs}["caught"] == (thirteen, thirteen)
    assert [j.name for j in two.jobs if j.id in two.missed] == ["caught"]  # still to be caught up: said again


def test_a_reload_keeps_the_running_mark_of_a_run_still_going(make_store, sched, clock) -> None:
    """A load with ``live_runs`` (a session switched back while one of its runs goes on in this very
    process) is not a crash for that job, and its save must keep the job's "running" mark: if the
    kernel dies during that run, the next load pauses the job (it may be what killed the kernel)."""
    long = sched.create("@every 1h", "a = 1", durable=True, name="long")
    store = make_store()
    assert store.save(sched.jobs(), clock.now())
    clock.advance(3600)
    [fire] = sched.due()
    assert fire.job is long and store.save(sched.jobs(), clock.now())  # "running" on disk before the code
    clock.advance(7200)  # the run is still going two hours later (the reload moves its next fire: a save)
    reload = make_store().load(clock.now(), live_runs=[long.id])
    assert reload.stuck == [] and reload.changed and [j.running for j in reload.jobs] == [True]
    crashed = make_store().load(clock.now())  # the kernel died in that run
    assert crashed.stuck == [long.label] and crashed.jobs[0].paused


def test_an_append_cut_short_by_a_full_disk_leaves_no_half_line(make_store, sched, clock, warned, monkeypatch) -> None:
    """A journal append that fails half-way (the disk filled up) is cut back to where it started
    (truncating needs no space): a kernel that dies before the next save leaves a journal whose
    every line reads, not a half line that the next load would set aside as damage."""
    import errno

    for i in range(3):
        sched.create("@every 1h", f"x = {i}", durable=True)
    assert make_store().save(sched.jobs(), clock.now())
    before = make_store().journal_path.read_bytes()
    clock.advance(7200 + 30)
    real = os.write

    def half(fd: int, data) -> int:  # as a filling disk does: a short write, then ENOSPC
        if len(data) <= 40:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, bytes(data[: len(data) - 40]))

    loading = make_store()
    monkeypatch.setattr(os, "write", half)
    result = loading.load(clock.now())  # its marker is the append that fails
    monkeypatch.undo()
    assert len(result.jobs) == 3 and loading.dirty and "space" in warned[-1]
    assert loading.journal_path.read_bytes() == before  # the kernel dies here
    again = make_store().load(clock.now())
    assert again.warnings == [] and not bad_files(loading) and len(again.jobs) == 3


def switched_away_while_running(make_store, sched: Scheduler, clock) -> CronJob:
    """A durable job fires at 13:00 and its run goes on; its session is left, saved settled (no "running")."""
    long = sched.create("@every 1h", "a = 1", durable=True, name="long")
    store = make_store()
    assert store.save(sched.jobs(), clock.now())
    clock.advance(3600)
    [_fire] = sched.due()
    assert store.save(sched.jobs(), clock.now()) and store.save(sched.jobs(), clock.now(), settled=True)
    return long


def test_switching_back_to_a_session_puts_a_live_runs_mark_on_disk(make_store, sched, clock) -> None:
    """Leaving a session saves it settled (no "running" on disk) while its run goes on; switching back
    before its next fire changes nothing else, yet the run's mark must reach the disk: a kernel that
    dies in that run brings the job back paused."""
    long = switched_away_while_running(make_store, sched, clock)
    clock.advance(60)  # back at 13:01: its next fire (14:00) is ahead
    back = make_store().load(clock.now(), live_runs=[long.id])
    assert back.jobs[0].running and back.changed
    crashed = make_store().load(clock.now())  # the kernel died in that run
    assert crashed.stuck == [long.label] and crashed.jobs[0].paused


@pytest.mark.parametrize("fault", ["torn", "fsync"])
def test_a_failed_append_keeps_every_whole_line_it_wrote(make_store, clock, monkeypatch, fault) -> None:
    """A fire's save (last_fired, "running") writes whole lines, then fails: a torn last line is cut
    back to the last whole one, and lines written whole (an fsync that failed after them) stay. The
    code runs all the same, so a kernel dying next must find its last_fired: no occurrence runs twice."""
    import errno

    sched = Scheduler(clock, Settings(timezone="UTC"))
    a = sched.create("@every 1h", "a = 1", durable=True, name="a", catch_up=0)
    sched.create("@every 1h", "b = 1", durable=True, name="b")
    store = make_store()
    assert store.save(sched.jobs(), clock.now())
    clock.advance(3600)
    sched.due()
    real_write, real_fsync = os.write, os.fsync

    def torn(fd: int, data) -> int:  # as a filling disk does: a short write, then ENOSPC
        if len(data) <= 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, bytes(data[:-5]))

    def eio(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, *(("write", torn) if fault == "torn" else ("fsync", eio)))
    assert not store.save(sched.jobs(), clock.now())
    monkeypatch.setattr(os, "write", real_write)
    monkeypatch.setattr(os, "fsync", real_fsync)
    clock.advance(300)  # the code ran; the kernel died in it
    back = {j.name: j for j in make_store().load(clock.now()).jobs}
    assert back["a"].last_fired == a.last_fired and back["a"].catch_up_for is None and back["a"].paused


def test_a_live_runs_mark_a_load_wrote_is_cut_back_by_a_settled_save_on_a_full_disk(
    make_store, sched, clock, monkeypatch
) -> None:
    """The running mark a switch-back appends is a "running" like a fire's: when the kernel then exits on a
    full disk (a settled save that cannot be written), the journal is cut back to before it, so the next
    load does not pause a job whose run this process ended."""
    import errno

    long = switched_away_while_running(make_store, sched, clock)
    clock.advance(60)
    back = make_store()
    result = back.load(clock.now(), live_runs=[long.id])  # appends the live run's mark
    assert result.jobs[0].running

    def full(fd: int, data) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    assert not back.save(result.jobs, clock.now(), settled=True)  # the kernel exits, the disk is full
    monkeypatch.undo()
    after = make_store().load(clock.now())
    assert after.stuck == [] and not after.jobs[0].paused
