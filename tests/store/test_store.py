"""The durable store on real files (docs/durable.md): round trips, permissions, every load rule, faults."""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from storeutil import IS_ROOT, SID, bad_files, frozen_dir, write_raw

from loopal_ipy.core.job import Run
from loopal_ipy.storage.loadrules import Dropped
from loopal_ipy.storage.store import Store


def doc(*jobs: dict) -> dict:
    return {"version": 1, "session": {"id": SID}, "jobs": list(jobs)}


def dicts(jobs) -> list[dict]:
    return [j.to_dict() for j in jobs]


# ------------------------------------------------------------------ saving
def test_round_trip_keeps_every_field(sched, clock, make_store):
    tick = sched.create("@every 10s", "n = n + 1", durable=True, name="tick", tz="Europe/Paris")
    sched.create("*/5 * * * *", "print('hi')", durable=True)
    sched.create("@daily", "later()", durable=True, once=True)
    held = sched.pause(sched.create("@hourly", "x = 1", durable=True).id)
    clock.advance(10)
    for fire in sched.due():
        sched.finish(fire.job, Run(started_at=clock.now(), duration=0.25, output="out\n", occurrence=fire.occurrence))
    assert tick.runs == 1
    assert make_store().save(sched.jobs(), clock.now()) is True
    result = make_store().load(clock.now())
    assert dicts(result.jobs) == dicts(sched.jobs())
    assert result.changed is False and result.dropped == [] and result.missed == {}
    assert result.summary() == (
        f"loopal_ipy: restored 4 durable jobs for session {SID}; "
        f"{held.id} paused as saved (%cron resume ID restarts it)"
    )


def test_only_durable_jobs_are_written(sched, clock, make_store):
    keep = sched.create("@every 1m", "a = 1", durable=True)
    sched.create("@every 1m", "b = 1")
    store = make_store()
    store.save(sched.jobs(), clock.now())
    on_disk = json.loads(store.path.read_text("utf-8"))
    assert [j["id"] for j in on_disk["jobs"]] == [keep.id]
    assert on_disk["version"] == 2 and on_disk["session"]["id"] == SID
    assert on_disk["session"]["updated_at"] == "2026-01-05T12:00:00.000000Z"


def test_directories_0700_files_0600_even_with_open_umask(sched, clock, make_store, home):
    sched.create("@every 1m", "a = 1", durable=True)
    old = os.umask(0)
    try:
        store = make_store()
        assert store.save(sched.jobs(), clock.now())
    finally:
        os.umask(old)
    for d in (home, home / "sessions", store.directory):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, d
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert not store.path.with_name("cron.json.tmp").exists()


def test_failing_writer_keeps_jobs_warns_once_per_streak_and_recovers(sched, clock, make_store, warned):
    store = make_store()
    job = sched.create("@every 1m", "a = 1", durable=True)
    assert store.save(sched.jobs(), clock.now())
    good = store._write_bytes

    def disk_full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    store._write_bytes = disk_full
    sched.create("@every 2m", "b = 1", durable=True)
    delays = []
    for _ in range(8):
        assert store.save(sched.jobs(), clock.now()) is False
        delays.append(store.retry_delay)
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]
    assert store.dirty is True
    assert len(warned) == 1
    assert re.match(
        rf"^loopal_ipy: could not save durable jobs to {re.escape(str(store.path))}: "
        r"No space left on device \(ENOSPC\) at .*: the disk is full: free some space; they are kept in memory",
        warned[0],
    )
    assert [j["id"] for j in json.loads(store.path.read_text())["jobs"]] == [job.id]  # old file intact
    store._write_bytes = good
    assert store.save(sched.jobs(), clock.now()) is True
    assert store.dirty is False and store.retry_delay == 0
    assert re.match(r"^loopal_ipy: saving durable jobs to .* works again$", warned[-1])
    assert len(json.loads(store.path.read_text())["jobs"]) == 2
    store._write_bytes = disk_full  # a new streak warns again, once
    sched.create("@every 1m", "c = 1", durable=True)  # a change to write
    store.save(sched.jobs(), clock.now())
    store.save(sched.jobs(), clock.now())
    assert len(warned) == 3


def test_read_only_directory_fault(sched, clock, make_store, warned):
    store = make_store()
    store.save([], clock.now())
    job = sched.create("@every 1m", "a = 1", durable=True)
    with frozen_dir(store.directory):
        assert store.save(sched.jobs(), clock.now()) is False
        assert store.save(sched.jobs(), clock.now()) is False
    assert store.dirty and len(warned) == 1
    assert store.save(sched.jobs(), clock.now()) is True
    assert [j.id for j in make_store().load(clock.now()).jobs] == [job.id]


def test_blocked_temp_path_is_a_save_failure(sched, clock, make_store, warned):
    store = make_store()
    sched.create("@every 1m", "a = 1", durable=True)
    store.path.with_name("cron.json.tmp").mkdir(parents=True)  # a directory where the temp file must go: EISDIR
    assert store.save(sched.jobs(), clock.now()) is False
    assert "(EISDIR)" in warned[0] and not store.path.exists()
    store.path.with_name("cron.json.tmp").rmdir()
    assert store.save(sched.jobs(), clock.now()) is True


# ----------------------------------------------------------------- loading
def test_no_file_is_empty(make_store, clock):
    result = make_store().load(clock.now())
    assert (result.jobs, result.read_only, result.changed) == ([], False, False)
    assert result.summary() == f"loopal_ipy: restored 0 durable jobs for session {SID}"


@pytest.mark.parametrize("how", ["directory", "fifo", "chmod-000"])
def test_unreadable_file_latches_read_only(how, make_store, clock, warned, sched, monkeypatch):
    store = make_store()
    write_raw(store, doc())
    if how == "directory":
        store.path.unlink()
        store.path.mkdir(mode=0o700)
    elif how == "fifo":
        store.path.unlink()
        os.mkfifo(store.path, 0o600)  # must not hang the kernel
    elif IS_ROOT:
        # root reads a chmod-000 file anyway: inject the EACCES a normal user gets.
        real_open = os.open

        def denied(path, *args, **kwargs):
            if str(path) == str(store.path):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", denied)
    else:
        os.chmod(store.path, 0)
    result = store.load(clock.now())
    assert result.read_only and store.read_only and result.jobs == []
    assert len(warned) == 1
    assert re.match(rf"^loopal_ipy: WARNING: cannot read {re.escape(str(store.path))}: .*read-only", warned[0])
    sched.create("@every 1m", "a = 1", durable=True)
    assert store.save(sched.jobs(), clock.now()) is False and len(warned) == 1
    assert bad_files(store) == []


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"\xff\xfe garbage",
        b"",
        b"[1,2,3]",
        b'{"version": 1}',
        b'{"version": "1", "jobs": []}',
        b'{"version": 1, "jobs": {}}',
        b'{"version": 0, "jobs": []}',
        b'{"version": 1, "jobs": [], "session": 3}',
        b"[" * 100_000,
    ],
)
def test_invalid_or_misshapen_file_is_quarantined(raw, make_store, clock, warned):
    store = make_store()
    write_raw(store, raw)
    result = store.load(clock.now())
    [bad] = bad_files(store)
    assert bad.read_bytes() == raw and result.quarantined == [bad]
    assert bad.name == f"cron.json.bad-{int(clock.now().timestamp() * 1000)}"
    assert not store.path.exists() and result.jobs == [] and not result.read_only
    assert re.match(
        rf"^loopal_ipy: {re.escape(str(store.path))} (is not valid JSON|has the wrong shape) .*"
        rf"moved it to {bad.name} \(bytes untouched\)",
        warned[0],
    )
    assert store.save([], clock.now())


def test_quarantine_name_is_unique(make_store, clock):
    store = make_store()
    for n in range(3):
        write_raw(store, f"broken {n}")
        store.load(clock.now())
    names = [p.name for p in bad_files(store)]
    stem = f"cron.json.bad-{int(clock.now().timestamp() * 1000)}"
    assert sorted(names) == sorted([stem, stem + "-1", stem + "-2"])
    assert sorted(p.read_text() for p in bad_files(store)) == ["broken 0", "broken 1", "broken 2"]


def test_quarantine_rename_failure_latches(make_store, clock, warned):
    store = make_store()
    raw = write_raw(store, b"{oops")
    with frozen_dir(store.directory):
        result = store.load(clock.now())
    assert result.read_only and store.path.read_bytes() == raw and bad_files(store) == []
    assert re.match(r"^loopal_ipy: WARNING: .* is not valid JSON .* could not be moved aside", warned[0])


def test_newer_version_latches_and_is_never_touched(make_store, clock, warned, sched):
    store = make_store()
    raw = write_raw(store, {"version": 3, "jobs": "whatever v3 means"})
    result = store.load(clock.now())
    assert result.read_only and result.jobs == [] and result.quarantined == []
    assert re.match(r"^loopal_ipy: WARNING: .* has format version 3, but this loopal_ipy reads version 2", warned[0])
    sched.create("@every 1m", "a = 1", durable=True)
    assert store.save(sched.jobs(), clock.now()) is False
    assert store.path.read_bytes() == raw and bad_files(store) == [] and len(warned) == 1


def test_bad_entries_are_dropped_and_preserved(sched, clock, make_store, warned):
    good = sched.create("@every 1m", "a = 1", durable=True).to_dict()
    bad_schedule = dict(good, id="badsched", schedule="* * * * * *")
    missing = {k: v for k, v in good.items() if k != "code"} | {"id": "nocode00"}
    store = make_store()
    write_raw(store, doc(bad_schedule, good, missing, "not even an object"))
    result = store.load(clock.now())
    assert [j.id for j in result.jobs] == [good["id"]] and result.changed
    assert [d.label for d in result.dropped] == ["badsched", "nocode00", "entry 3"]
    assert [d.job_id for d in result.dropped] == ["badsched", "nocode00", None]
    [bad] = bad_files(store)
    kept = json.loads(bad.read_text())
    assert [e["entry"] for e in kept["entries"]] == [bad_schedule, missing, "not even an object"]
    assert [e["index"] for e in kept["entries"]] == [0, 2, 3]
    assert result.dropped[0].reason.startswith("badsched is not a valid job (ScheduleError: ")
    assert result.dropped[0].reason.endswith(f"; kept in {bad.name}")
    assert [j["id"] for j in json.loads(store.path.read_text())["jobs"]] == [good["id"]]
    assert any(
        re.match(rf"^loopal_ipy: 3 entries of .* could not be loaded; kept verbatim in {bad.name}$", w) for w in warned
    )


def test_one_shot_jobs_that_fired_or_passed_are_dropped(sched, clock, make_store):
    fired = sched.create("@every 1h", "a = 1", durable=True, once=True)
    passed = sched.create("@every 1h", "b = 1", durable=True, once=True)
    ahead = sched.create("@daily", "c = 1", durable=True, once=True)
    fired.last_fired = clock.now()
    make_store().save(sched.jobs(), clock.now())
    clock.advance(hours=2)
    result = make_store().load(clock.now())
    assert [j.id for j in result.jobs] == [ahead.id] and result.jobs[0].next_fire == ahead.next_fire
    assert result.dropped == [
        Dropped(fired.id, f"one-shot {fired.id} already fired", fired.id),
        Dropped(passed.id, f"one-shot {passed.id} missed its time while no kernel ran", passed.id),
    ]
    assert result.summary() == (
        f"loopal_ipy: restored 1 durable job for session {SID}; dropped 2 (one-shot {fired.id} already fired; "
        f"one-shot {passed.id} missed its time while no kernel ran)"
    )
    assert bad_files(make_store()) == []  # a one-shot's end is normal, nothing to preserve


def test_recurring_jobs_are_not_caught_up_and_misses_are_counted(sched, clock, make_store):
    every = sched.create("@every 10s", "a = 1", durable=True, name="tick")
    cron = sched.create("*/5 * * * *", "b = 1", durable=True)
    fast = sched.create("@every 1s", "c = 1", durable=True)
    paused = sched.pause(sched.create("@every 1s", "d = 1", durable=True).id)
    make_store().save(sched.jobs(), clock.now())
    clock.advance(seconds=35 * 60 + 5)
    result = make_store().load(clock.now())
    now = clock.now()
    assert result.missed == {every.id: 210, cron.id: 7, fast.id: 1000}
    by_id = {j.id: j for j in result.jobs}
    assert by_id[every.id].next_fire == now + timedelta(seconds=5)
    assert by_id[cron.id].next_fire == now + timedelta(minutes=5, seconds=-5)
    assert by_id[paused.id].paused and paused.id not in result.missed
    assert result.summary().endswith(
        f"; 1217+ missed occurrences not caught up (job {every.id} (tick): 210, job {cron.id}: 7, job {fast.id}: 1000+)"
        f"; {paused.id} paused as saved (%cron resume ID restarts it)"
    )
    assert result.changed
    assert make_store().load(now).changed is False  # the rewrite already holds the new next fires


def test_duplicate_ids_keep_the_first(sched, clock, make_store):
    first = sched.create("@every 1m", "first = 1", durable=True).to_dict()
    store = make_store()
    write_raw(store, doc(first, dict(first, code="second = 1")))
    result = store.load(clock.now())
    assert [j.code for j in result.jobs] == ["first = 1"]
    assert result.dropped[0].reason.startswith(f"duplicate id {first['id']} (entry 1); kept in cron.json.bad-")
    assert json.loads(bad_files(store)[0].read_text())["entries"][0]["entry"]["code"] == "second = 1"


def test_a_lower_max_jobs_at_load_loses_nothing(sched, clock, make_store):
    """A policy limit never moves jobs to .bad-: the limit a store was saved under is honoured."""
    made = [sched.create("@every 1m", f"x = {i}", durable=True) for i in range(5)]
    make_store().save(made, clock.now())
    store = make_store(max_jobs=3)
    result = store.load(clock.now())
    assert [j.id for j in result.jobs] == [j.id for j in made]
    assert not any(j.paused for j in result.jobs) and result.dropped == [] and bad_files(store) == []


def test_more_than_max_jobs_in_a_hand_made_file_are_held_paused(sched, clock, make_store):
    made = [sched.create("@every 1m", f"x = {i}", durable=True) for i in range(5)]
    store = make_store(max_jobs=3)
    write_raw(store, doc(*[j.to_dict() for j in made]))  # no limit recorded in it
    result = store.load(clock.now())
    assert [j.id for j in result.jobs] == [j.id for j in made]
    assert [j.paused for j in result.jobs] == [False, False, False, True, True]
    assert result.dropped == [] and bad_files(store) == []
    assert "over the limit of 3 jobs (Cron.max_jobs); they stay in the store" in result.summary()
    assert "%config Cron.max_jobs = 5" in result.summary()


def test_file_is_rewritten_only_when_loading_changed_it(sched, clock, make_store):
    sched.create("@every 10s", "a = 1", durable=True)
    store = make_store()
    store.save(sched.jobs(), clock.now())
    before = (store.path.read_bytes(), os.stat(store.path).st_mtime_ns, os.stat(store.path).st_ino)
    clock.advance(5)
    assert make_store().load(clock.now()).changed is False
    assert (store.path.read_bytes(), os.stat(store.path).st_mtime_ns, os.stat(store.path).st_ino) == before
    clock.advance(60)
    journal = store.journal_path.read_bytes()
    moved = make_store().load(clock.now())
    assert moved.changed is True and sum(moved.missed.values()) == 6
    # saved: the next fire moved past the downtime, written as one state line appended to the
    # journal (cron.json holds definitions, which did not change), so the next load reports nothing twice
    assert store.path.read_bytes() == before[0]
    grown = store.journal_path.read_bytes()
    added = grown[len(journal) :]
    assert grown.startswith(journal) and added.count(b"\n") == 1 and b'"state":' in added
    again = make_store().load(clock.now())
    assert again.changed is False and again.missed == {}


@pytest.mark.parametrize("fault", ["file-0666", "dir-0777", "foreign-owner", "symlink"])
def test_untrusted_store_is_not_run(fault, sched, clock, make_store, warned, tmp_path):
    job = sched.create("@every 1m", "os.system('rm -rf ~')", durable=True)
    store = make_store()
    store.save(sched.jobs(), clock.now())
    if fault == "file-0666":
        os.chmod(store.path, 0o666)
    elif fault == "dir-0777":
        os.chmod(store.directory, 0o777)
    elif fault == "symlink":
        target = tmp_path / "elsewhere.json"
        store.path.rename(target)
        store.path.symlink_to(target)
    elif IS_ROOT:
        os.chown(store.path, 65534, 65534)
    else:
        store._uid = os.getuid() + 1  # cannot give a file away without root: distrust ourselves instead
    raw = store.path.read_bytes()
    result = store.load(clock.now())
    assert result.read_only and result.jobs == []
    assert [j.id for j in result.untrusted] == ([] if fault == "symlink" else [job.id])
    assert re.match(
        r"^loopal_ipy: WARNING: .* (writable by group or others|owned by uid|symbolic link).*"
        r"so its durable jobs are NOT run; the store is read-only",
        warned[0],
    )
    assert store.save(sched.jobs(), clock.now()) is False
    assert store.path.read_bytes() == raw and bad_files(store) == []
    refused = "" if fault == "symlink" else "; 1 job not run: the store failed the safety check"
    assert result.summary() == (
        f"loopal_ipy: restored 0 durable jobs for session {SID}{refused}; "
        "the store is read-only for this session (see the warning)"
    )


def test_store_refuses_an_unsafe_session_id(home):
    with pytest.raises(ValueError, match=r"^unsafe session id '\.\./x'"):
        Store(home, "../x")


def test_retries_and_catch_up_are_kept_and_old_files_load_without_them(sched, clock, make_store):
    """The format grows compatibly: the new keys are written only when set, and read back."""
    polled = sched.create("@every 1m", "poll()", durable=True, retries=3, retry_delay=5, catch_up=0)
    plain = sched.create("@every 1m", "x = 1", durable=True)
    store = make_store()
    store.save([polled, plain], clock.now())
    entries = {e["id"]: e for e in json.loads(store.path.read_text())["jobs"]}
    assert "retries" not in entries[plain.id] and "catch_up" not in entries[plain.id]
    back = {j.id: j for j in make_store().load(clock.now()).jobs}
    assert (back[polled.id].retries, back[polled.id].retry_delay, back[polled.id].catch_up) == (3, 5.0, 0.0)
    assert (back[plain.id].retries, back[plain.id].catch_up) == (0, None)
