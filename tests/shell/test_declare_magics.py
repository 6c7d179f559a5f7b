"""``%cron create`` run again and ``%cron edit`` (docs/running.md, "Create cells are declarations"):
one line says what happened, and bad input changes nothing."""

from __future__ import annotations

import re

import pytest
from IPython.core.error import UsageError

import loopal_ipy


def cron(shell, line: str, cell: str | None = None) -> str:
    if cell is None:
        return str(shell.run_line_magic("cron", line))
    return str(shell.run_cell_magic("cron", line, cell))


def test_a_named_create_again_says_unchanged_and_a_changed_one_what_changed(kshell) -> None:
    again = cron(kshell, 'create --durable --name keeper "@hourly" pass')
    assert re.match(r"^job [a-z0-9]{8} \(keeper\) unchanged; next fire ", again), again
    said = cron(kshell, 'create --durable --name keeper "@every 5m" pass')
    assert re.match(r'^job [a-z0-9]{8} \(keeper\) updated: schedule "@hourly" → "@every 5m"; next fire ', said), said
    kept = cron(kshell, 'create --if-exists keep --durable --name keeper "@daily" pass')
    assert kept.endswith('kept as it is (--if-exists keep); this create differs: schedule "@every 5m" → "@daily"')
    with pytest.raises(UsageError, match=r"^name 'keeper' is already used by job [a-z0-9]{8}; pick another"):
        cron(kshell, 'create --if-exists error --name keeper "@daily" pass')
    with pytest.raises(UsageError, match=r"^if_exists must be one of update, keep, error, got 'sometimes'"):
        cron(kshell, 'create --if-exists sometimes --name keeper "@daily" pass')
    assert len(loopal_ipy.get_scheduler().jobs()) == 1


def test_a_paused_job_declared_again_stays_paused_and_says_so(kshell) -> None:
    cron(kshell, "pause keeper")
    said = cron(kshell, 'create --durable --name keeper "@hourly" pass')
    assert said.endswith("unchanged; paused — %cron resume keeper restarts it"), said


def test_edit_changes_one_part_in_place(kshell) -> None:
    job = loopal_ipy.get_scheduler().get("keeper")
    said = cron(kshell, "edit keeper --schedule @every 30s --timeout 5")
    pattern = r'^job [a-z0-9]{8} \(keeper\) updated: schedule "@hourly" → "@every 30s"; --timeout none → 5;'
    assert re.match(pattern, said), said
    assert cron(kshell, "edit keeper --code x = 1; y = 2").startswith(f'job {job.id} (keeper) updated: code "pass"')
    assert job.code == "x = 1; y = 2"
    assert "updated: code" in cron(kshell, "edit keeper", "z = 3\n")
    assert job.code == "z = 3\n" and job.schedule == "@every 30s" and job.timeout == 5.0
    assert "unchanged" in cron(kshell, "edit keeper --timeout 5")
    assert 'schedule "@every 30s" → "@every 5s"' in cron(kshell, 'edit keeper --schedule="@every 5s"')  # = form


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ("edit", r"%cron edit: no job given; usage: %cron edit ID .*"),
        ("edit keeper", r"%cron edit: nothing to change; usage: .*"),
        ("edit keeper --durable", r"%cron edit changes the schedule, code and run policy; for --durable run .*"),
        ("edit keeper --name=x", r"%cron edit changes .*; for --name run %cron create again with it .*"),
        ("edit keeper --bogus 1", r"%cron edit: unknown option '--bogus'; usage: %cron edit ID .*"),
        ("edit keeper --schedule", r"%cron edit: --schedule needs a value, .*"),
        ("edit keeper --schedule '* * * * * *'", r"6 fields given; cron takes 5 .*"),
        ("edit keeper --code x = (", r"code does not compile: .*"),
        ("edit nobody --timeout 5", r"no job 'nobody'; known jobs: .*"),
        ("edit keeper stray", r"%cron edit: unexpected 'stray'; usage: .*"),
        ("edit keeper --code=x", r"%cron edit: put the code after --code and a space: .*"),
        ("edit keeper --schedule=", r"%cron edit: --schedule needs a value, .*"),
    ],
)
def test_bad_edits_are_one_line_and_change_nothing(kshell, line: str, pattern: str) -> None:
    job = loopal_ipy.get_scheduler().get("keeper")
    before = job.definition()
    with pytest.raises(UsageError) as info:
        cron(kshell, line)
    assert "\n" not in str(info.value) and re.fullmatch(pattern, str(info.value)), str(info.value)
    assert job.definition() == before
