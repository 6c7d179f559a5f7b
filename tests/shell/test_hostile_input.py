"""Each input once seen to break ``%cron``, as a test: one clean line, nothing changed.

The fuzz test (``test_fuzz_magics.py``) covers the space; these name the cases
that were seen, with the message a user gets.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from IPython.core.error import UsageError

import loopal_ipy
from loopal_ipy.kernel import waiting
from loopal_ipy.ui import render


def refused(shell, line: str, pattern: str) -> str:
    sched = loopal_ipy.get_scheduler()
    before = [(j.id, j.name, j.code, j.paused) for j in sched.jobs()]
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("cron", line)
    message = str(info.value)
    assert "\n" not in message
    assert re.fullmatch(pattern, message), message
    assert [(j.id, j.name, j.code, j.paused) for j in sched.jobs()] == before
    return message


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ('create "@every 10s x=1', r"%cron create: no closing quotation in .+; close the quote, .+"),
        ("delete 'abc", r"%cron delete: no closing quotation in .+"),
        ("pause keeper\\", r"%cron pause: no escaped character in .+"),
        ('log "keeper', r"%cron log: no closing quotation in .+"),
        ('next "@daily', r"%cron next: no closing quotation in .+"),
        ('next "@daily" --tz "UTC', r"%cron next: no closing quotation in .+"),
        ('run "keeper', r"%cron run: no closing quotation in .+"),
        ('create "@every 1000000000d" x=1', r"@every 1000000000d is too long: the longest is @every 3650d .+"),
        ('create "@every 99999999999999d" x=1', r"@every 99999999999999d is too long: .+"),
        ('next "@every 1000000000d"', r"@every 1000000000d is too long: .+"),
        ('next "@daily" --from 9999-12-31T23:59', r"@daily has no occurrence after 9999-12-31T23:59.+ 9999; .+"),
        ('next "@yearly" --from 9999-06-01', r"@yearly has no occurrence after .+"),
        ('create "@every 10s" ' + "1+" * 30000 + "1", r"code does not compile: it is nested too deeply .+"),
        ('create "@every 10s" ' + "-" * 60000 + "1", r"code does not compile: it is nested too deeply .+"),
        ("log keeper -n x", r"%cron log: argument -n: invalid int value: 'x'; usage: %cron log ID \[-n N\]"),
        ('next "@daily" -n', r"%cron next: argument -n: expected one argument; usage: %cron next SCHEDULE \[-n N\] .+"),
    ],
)
def test_seen_inputs_are_one_line_and_change_nothing(kshell, line: str, pattern: str) -> None:
    refused(kshell, line, pattern)


def test_delete_of_the_same_id_twice_deletes_it_once_and_says_so(kshell) -> None:
    kshell.run_line_magic("cron", 'create --name twice "@hourly" pass')
    out = kshell.run_line_magic("cron", "delete twice twice")
    assert str(out) == f"deleted {loopal_ipy.get_scheduler().core.find_removed('twice').label}"


@pytest.mark.parametrize("value", ["float('inf')", "float('nan')", "1e13", "0", "-5", "'soon'"])
def test_max_age_must_be_finite_and_in_range(kshell, value: str) -> None:
    conf = next(c for c in kshell.configurables if type(c).__name__ == "Cron")
    kshell.run_line_magic("config", f"Cron.max_age = {value}")  # %config logs the refusal
    assert conf.max_age == 3 * 86400
    sched = loopal_ipy.get_scheduler()
    assert sched.core.settings.max_age == 3 * 86400
    job = sched.create("@every 10s", "pass")  # and creating still works, whole
    assert job in sched.jobs() and sched.core.expires_at(job) is not None


def test_every_setting_refuses_what_would_stop_jobs(kshell) -> None:
    from traitlets import TraitError

    conf = next(c for c in kshell.configurables if type(c).__name__ == "Cron")
    for name, bad in [
        ("max_jobs", 0),
        ("max_jobs", 10**9),
        ("history_size", 0),
        ("output_limit", float("inf")),
        ("job_timeout", float("nan")),
        ("job_timeout", -1),
        ("max_code_chars", 0),
    ]:
        before = getattr(conf, name)
        with pytest.raises(TraitError, match=rf"^(Cron\.{name} must be between |The '{name}' trait )"):
            setattr(conf, name, bad)
        assert getattr(conf, name) == before


def test_a_log_bigger_than_the_store_keeps_per_job_is_refused_where_it_is_set(kshell) -> None:
    """Regression: 15 jobs × 40 runs × 50,000 emoji saved 343 MiB, which the next kernel refused."""
    from traitlets import TraitError

    conf = next(c for c in kshell.configurables if type(c).__name__ == "Cron")
    conf.history_size = 40
    with pytest.raises(
        TraitError,
        match=r"^Cron\.output_limit = 1,000,000 with Cron\.history_size = 40 would keep "
        r"40,000,000 characters of log per job, over the 5,000,000 a durable store holds per job; "
        r"lower Cron\.history_size first$",
    ):
        conf.output_limit = 1_000_000
    assert conf.output_limit == 10_000
    conf.output_limit = 125_000  # 40 × 125,000 = 5,000,000: the most
    with pytest.raises(TraitError, match=r"^Cron\.history_size = 41 with"):
        conf.history_size = 41
    assert loopal_ipy.get_scheduler().core.settings.history_size == 40
    conf.output_limit, conf.history_size = 10_000, 20


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        ("keeper --timeout nan", r"%cron wait: --timeout must be between 0 and 604800 seconds \(a week\), got nan"),
        ("keeper --timeout -1", r"%cron wait: --timeout must be between .+ got -1"),
        ("keeper --runs 0", r"%cron wait: --runs must be between 1 and 100000, got 0"),
        ("keeper --runs 1000000", r"%cron wait: --runs must be between 1 and 100000, got 1000000"),
        ('"keeper', r"%cron wait: no closing quotation in .+"),
        ("keeper extra", r"%cron wait: unexpected 'extra'; usage: %cron wait \[ID\] \[--runs N\] \[--timeout S\]"),
    ],
)
def test_wait_arguments_are_checked_before_anything_waits(args: str, pattern: str) -> None:
    from loopal_ipy.ui.magicargs import parse_wait

    with pytest.raises(UsageError) as info:
        parse_wait(args)
    assert re.fullmatch(pattern, str(info.value)), str(info.value)


def test_default_wait_timeout_is_bounded_work(kshell) -> None:
    sched = loopal_ipy.get_scheduler()
    job = sched.create("*/5 * * * *", "pass", name="five")
    t0 = time.perf_counter()
    with pytest.raises(LookupError, match=r"^job [a-z0-9]{8} \(five\) runs 100000 more times only in 347 days, and a "):
        waiting._default_timeout(sched, job, 100_000)
    took = time.perf_counter() - t0
    assert took < 0.5, f"{took:.2f} s to compute a default timeout"


@pytest.mark.parametrize(
    ("schedule", "runs", "pattern"),
    [
        (
            "0 0 1 1 *",
            1,
            r"job \w+ \(far\) next fires in \d+ days, and a wait without --timeout waits at most 10 min; "
            r"pass --timeout \d+ to wait that long",
        ),
        ("*/5 * * * *", 3, r"job \w+ \(far\) runs 3 more times only in 1\d min( \d+ s)?, and a wait .+"),
    ],
)
def test_a_wait_that_could_only_time_out_fails_at_once_saying_when(kshell, schedule, runs, pattern) -> None:
    """docs/executed.md: without --timeout a wait waits at most 10 minutes; a run further away fails at once."""
    loopal_ipy.get_scheduler().create(schedule, "pass", name="far")
    t0 = time.perf_counter()
    with pytest.raises(UsageError) as info:
        kshell.find_magic("cron").__self__.wait_line_blocking(f"far --runs {runs}")  # what the line becomes
    assert time.perf_counter() - t0 < 5
    assert re.fullmatch(pattern, str(info.value)), str(info.value)


def test_a_wait_for_a_paused_job_says_it_is_paused_not_that_it_never_fires(kshell) -> None:
    loopal_ipy.get_scheduler().create("@hourly", "pass", name="held")
    loopal_ipy.get_scheduler().pause("held")
    with pytest.raises(UsageError, match=r"^job \w+ \(held\) is paused, 0 runs seen; %cron resume held first$"):
        kshell.find_magic("cron").__self__.wait_line_blocking("held")


def test_lone_surrogates_in_output_never_break_list_log_or_the_store(kshell) -> None:
    sched = loopal_ipy.get_scheduler()
    job = sched.create("@hourly", "print('\\udcff' + 'name'); raise ValueError('\\ud800')", durable=True, name="odd")
    sched.run_now("odd")
    run = job.history[-1]
    assert run.status == "error"
    assert "\ufffdname" in run.output and "\ud800" not in run.output and "\udcff" not in run.output
    run.output.encode("utf-8")  # strict: it is valid text
    render.log_text(job, None).encode("utf-8")
    str(kshell.run_line_magic("cron", "list")).encode("utf-8")
    sched.flush()
    saved = json.loads(sched.store.store.path.read_bytes())
    assert "odd" in [e["name"] for e in saved["jobs"]]
    lines = sched.store.store.journal_path.read_bytes().decode("utf-8").splitlines()  # strict UTF-8
    [run] = [json.loads(line)["run"] for line in lines if '"run"' in line and job.id in line]
    assert run["output"] == job.history[-1].output


def test_code_is_kept_verbatim_not_expanded_by_ipython(kshell) -> None:
    """CODE is the rest of the line verbatim (docs/schedules.md). IPython expands ``$x`` and ``{x}`` in a line
    magic's arguments unless the magic opts out: ``print(f"{x}")`` was scheduled as ``print(f"41")``."""
    kshell.user_ns["x"] = 41
    kshell.run_line_magic("cron", 'create --name verbatim "@daily" print(f"{x}", "$x", "$$")')
    assert loopal_ipy.get_scheduler().get("verbatim").code == 'print(f"{x}", "$x", "$$")'
    kshell.run_line_magic("cron", "delete verbatim")


def test_a_wait_line_takes_the_notebooks_variables_as_papermill_parameters(kshell) -> None:
    """docs/executed.md: `%cron wait tick --runs {runs}` reads `runs` from the notebook, as other magics do."""
    loopal_ipy.get_scheduler().create("0 0 1 1 *", "pass", name="far")
    kshell.user_ns.update(runs=2, which="far")
    magics = kshell.find_magic("cron").__self__
    for line in ("{which} --runs {runs}", "$which --runs $runs"):
        with pytest.raises(UsageError, match=r"^job \w+ \(far\) runs 2 more times only in "):
            magics.wait_line_blocking(line)
    with pytest.raises(UsageError, match=r"^%cron wait: --runs takes a whole number"):
        magics.wait_line_blocking("far --runs {nowhere}")  # an unknown name stays as written, and is refused
