"""The store's seal (docs/durable.md): a load trusts what a save wrote, and checks everything else in full.

A sealed entry skips the compile of its code (the costliest check), and the journal's superseded
state lines are skipped unread; any byte changed by hand, a journal that is not the one the file
was sealed with, or a seal from another Python takes the load back to every check.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from storeutil import bad_files

from loopal_ipy.core.job import Run
from loopal_ipy.core.limits import Settings, check_stored, compile_check
from loopal_ipy.storage import seal as seal_module
from loopal_ipy.storage.store import Store


class Spy:
    """The store's validate: every check of a create, and which entries came sealed."""

    def __init__(self) -> None:
        self.sealed: list[bool] = []

    def __call__(self, job, names, sealed) -> None:
        self.sealed.append(sealed)
        check_stored(job, names, Settings(), None if sealed else compile_check)


@pytest.fixture
def saved(sched, clock, make_store) -> Store:
    for i in range(5):
        sched.create("@every 10s", f"x{i} = {i}", durable=True, name=f"job{i}")
    clock.advance(10)
    for fire in sched.due():
        sched.finish(fire.job, Run(started_at=clock.now(), duration=0.1, output="ok\n", occurrence=fire.occurrence))
    store = make_store()
    assert store.save(sched.jobs(), clock.now())
    return store


def digest_of(data: bytes) -> bytes:
    h = seal_module.journal_hash()
    h.update(data)
    return h.digest()


def load(make_store, clock) -> tuple[Spy, object]:
    spy = Spy()
    return spy, make_store(validate=spy).load(clock.now())


def test_a_file_the_store_wrote_is_sealed_and_loads_without_compiling(saved, make_store, clock):
    raw = saved.path.read_bytes()
    assert raw.rstrip().endswith(b'"\n}') and b'"seal": "' in raw
    assert json.loads(raw)["seal"]  # still plain JSON: an older loopal_ipy reads it
    spy, result = load(make_store, clock)
    assert spy.sealed == [True] * 5
    assert len(result.jobs) == 5 and all(j.runs == 1 for j in result.jobs)
    assert not result.dropped and not bad_files(saved)


def test_appends_after_the_seal_keep_it_and_count(saved, sched, clock, make_store):
    """A fire appends its state and run to the journal, past the sealed offset: still sealed, and read."""
    clock.advance(10)
    for fire in sched.due():
        sched.finish(fire.job, Run(started_at=clock.now(), duration=0.1, output="ok\n", occurrence=fire.occurrence))
    assert saved.save(sched.jobs(), clock.now())
    assert saved.saves["appends"] == 1  # no rewrite: the seal was written before these lines
    spy, result = load(make_store, clock)
    assert spy.sealed == [True] * 5
    assert sorted(j.runs for j in result.jobs) == [2] * 5
    assert all(len(j.history) == 2 for j in result.jobs)


def test_code_edited_by_hand_is_compiled_again_and_refused(saved, make_store, clock):
    raw = saved.path.read_bytes()
    assert raw.count(b'"x2 = 2"') == 1
    saved.path.write_bytes(raw.replace(b'"x2 = 2"', b'"x2 = ("'))
    spy, result = load(make_store, clock)
    assert spy.sealed == [False] * 5  # the seal no longer matches: every entry checked in full
    assert sorted(j.name for j in result.jobs) == ["job0", "job1", "job3", "job4"]
    assert [d.name for d in result.dropped] == ["job2"] and "does not compile" in result.dropped[0].reason
    assert len(bad_files(saved)) == 1  # the entry is kept verbatim, as before the seal


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda raw: raw.replace(b'"seal": "', b'"seal": "0'), id="seal changed"),
        pytest.param(lambda raw: raw[: raw.rindex(b",\n")] + b"\n}\n", id="seal removed"),
        pytest.param(lambda raw: raw.replace(b'"job1"', b'"jobX"'), id="a name changed"),
        pytest.param(lambda raw: raw + b"\n", id="a byte added after it"),
    ],
)
def test_any_change_to_the_file_loses_the_seal(saved, make_store, clock, edit):
    raw = saved.path.read_bytes()
    saved.path.write_bytes(edit(raw))
    spy, result = load(make_store, clock)
    assert spy.sealed == [False] * 5
    assert len(result.jobs) == 5


def test_a_journal_changed_before_the_offset_loses_the_seal(saved, make_store, clock):
    """The superseded state lines are skipped unread only when they are the bytes the seal saw."""
    data = saved.journal_path.read_bytes()
    lines = data.splitlines(keepends=True)
    state = next(i for i, line in enumerate(lines) if b'"state":' in line)
    lines[state] = b'{"id":"' + lines[state][7:15] + b'","state":not json}\n'
    saved.journal_path.write_bytes(b"".join(lines))
    spy, result = load(make_store, clock)
    assert spy.sealed == [False] * 5
    assert len(result.jobs) == 5
    assert any("could not be read" in w for w in result.warnings)  # parsed, so the bad line is seen and kept


def test_a_missing_journal_loses_the_seal(saved, make_store, clock):
    saved.journal_path.unlink()
    spy, result = load(make_store, clock)
    assert spy.sealed == [False] * 5 and len(result.jobs) == 5


def test_a_seal_written_under_another_python_is_not_trusted(saved, sched, clock, make_store, monkeypatch):
    """Code that compiled under one Python may not under the next: the seal is keyed by the version."""
    monkeypatch.setattr(seal_module, "_PERSON", b"loopal2.7")
    spy, _ = load(make_store, clock)
    assert spy.sealed == [False] * 5


def test_a_failed_append_leaves_no_seal_until_a_rewrite(saved, sched, clock, make_store, monkeypatch):
    """Bytes half-written to the journal are not what the running digest saw: the next file is unsealed."""
    store = saved
    store._journal_hash = None  # as a failed append leaves it
    sched.create("@every 10s", "y = 1", durable=True, name="late")
    assert store.save(sched.jobs(), clock.now())  # a definition change: cron.json written, no rewrite
    assert store.saves["full"] == 1 and store.saves["definitions"] == 1
    assert b'"seal"' not in store.path.read_bytes()
    spy, result = load(make_store, clock)
    assert spy.sealed == [False] * 6 and len(result.jobs) == 6


def test_a_version_1_file_is_checked_in_full(home: Path, make_store, clock):
    store = make_store()
    store.directory.mkdir(parents=True, mode=0o700)
    entry = {"id": "abcdefgh", "schedule": "@every 10s", "code": "x = 1", "tz": "UTC",
             "created_at": "2026-01-05T11:00:00.000000Z"}  # fmt: skip
    store.path.write_text(json.dumps({"version": 1, "session": {"id": store.session_id}, "jobs": [entry]}))
    store.path.chmod(0o600)
    spy, result = load(make_store, clock)
    assert spy.sealed == [False] and len(result.jobs) == 1


def test_a_sealed_load_goes_on_from_the_digest_it_checked(saved, clock, make_store):
    """A sealed load hashes the journal's sealed part once (seal.intact) and goes on from that digest:
    after its own append (a load marker) and a definition change, the running digest is still the
    journal's bytes', and the file written then is sealed again."""
    clock.advance(3600)
    store = make_store()
    result = store.load(clock.now())
    assert result.changed and store.saves == {"full": 0, "definitions": 0, "appends": 1}
    assert store._journal_hash.digest() == digest_of(saved.journal_path.read_bytes())
    result.jobs[0].paused = True  # a definition change: cron.json is written, sealed with that digest
    assert store.save(result.jobs, clock.now()) and store.saves["definitions"] == 1
    spy, again = load(make_store, clock)
    assert spy.sealed == [True] * 5 and [j.paused for j in again.jobs] == [True] + [False] * 4


def test_jobs_of_a_sealed_load_share_schedules_yet_each_keeps_its_own(sched, clock, make_store):
    """Entries of a sealed file share one parse per (schedule, zone) (cron texts are shared by their parse
    cache anyway); an @every job keeps its own
    anchor, and a text in two zones is two schedules: each job's schedule is the one a parse gives."""
    from loopal_ipy.core.schedule import parse_schedule

    texts = [("@every 90s", "UTC"), ("0 9 * * *", "Europe/Paris"), ("0 9 * * *", "America/New_York"),
             ("*/5 * * * *", "UTC"), ("@every 1h", "Asia/Tokyo")]  # fmt: skip
    for round_ in range(3):
        for text, tz in texts:
            sched.create(text, "pass", durable=True, tz=tz)
        clock.advance(37 + round_)  # @every jobs created apart: each its own anchor
    assert make_store().save(sched.jobs(), clock.now())
    spy, result = load(make_store, clock)
    assert spy.sealed == [True] * 15
    made = {j.id: j for j in sched.jobs()}
    for job in result.jobs:
        assert job.compiled == parse_schedule(job.schedule, job.tz, anchor=job.created_at) == made[job.id].compiled
        assert job.next_fire == made[job.id].compiled.next_after(clock.now())
    cron = {(j.schedule, j.tz): j.compiled for j in result.jobs if not j.schedule.startswith("@")}
    assert all(j.compiled is cron[j.schedule, j.tz] for j in result.jobs if not j.schedule.startswith("@"))
    assert len({j.compiled.anchor for j in result.jobs if j.schedule.startswith("@")}) == 3  # one per round
