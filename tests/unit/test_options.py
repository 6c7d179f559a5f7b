"""The run-policy options are declared once (core/options.py): the job model, the definition a re-run
create compares, both store readers and the type checker's view follow that one list."""

from __future__ import annotations

import ast
import inspect

from loopal_ipy.core import job as job_module
from loopal_ipy.core.job import BASE_DEFINITION, CronJob, definition_fields
from loopal_ipy.core.options import OPTIONS
from loopal_ipy.storage.loadrules import from_sealed


def test_the_type_checkers_view_of_a_job_names_the_declared_options_and_no_other() -> None:
    tree = ast.parse(inspect.getsource(job_module.CronJob))
    stub = next(n for n in ast.walk(tree) if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test))
    declared = [n.target.id for n in stub.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
    assert declared == list(OPTIONS)


def test_a_definition_is_the_base_then_every_option(sched) -> None:
    assert definition_fields() == BASE_DEFINITION + tuple(OPTIONS)
    job = sched.create("@hourly", "x = 1", retries=2, retry_delay=5, catch_up=60, timeout=9)
    assert job.definition()[len(BASE_DEFINITION) :] == (9.0, 2, 5.0, 60.0)


def test_both_readers_rebuild_every_option_and_only_set_ones_are_written(sched) -> None:
    plain = sched.create("@hourly", "x = 1")
    assert not set(OPTIONS) & set(plain.to_dict())  # defaults are not written: older files stay as they were
    job = sched.create("@hourly", "x = 2", retries=2, retry_delay=5, catch_up=0, timeout=0)
    entry = job.to_dict()
    for back in (CronJob.from_dict(entry), from_sealed({k: v for k, v in entry.items() if k != "history"})):
        assert {name: getattr(back, name) for name in OPTIONS} == {name: getattr(job, name) for name in OPTIONS}


def test_the_typed_create_keywords_name_the_declared_options() -> None:
    from loopal_ipy.core.limits import CreateOptions

    own = {"once", "durable", "name", "tz", "if_exists", "cell"}
    assert [k for k in CreateOptions.__annotations__ if k not in own] == list(OPTIONS)
