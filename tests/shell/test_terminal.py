"""Terminal IPython (docs/configuration.md) and the extension's lifecycle, in an in-process shell."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError


def test_terminal_ipython_refuses_clearly_and_previews_work(shell) -> None:
    shell.run_cell("%load_ext loopal_ipy")
    with pytest.raises(UsageError, match=r"^%cron create needs a Jupyter kernel \(ipykernel\)"):
        shell.run_line_magic("cron", 'create "@every 1s" x = 1')
    out = shell.run_line_magic("cron", 'next "30 2 * * *" -n 2 --tz America/New_York --from 2026-03-07T12:00')
    assert "2026-03-08 03:00:00 EDT" in out and "DST" in out
    assert "x" not in shell.user_ns
    # %cron session only shows information: it says there is none, not that "nothing could fire"
    with pytest.raises(UsageError, match=r"^%cron session: terminal IPython keeps no jobs, so it has no session"):
        shell.run_line_magic("cron", "session")


def test_help_lists_every_subcommand_once(shell) -> None:
    shell.run_cell("%load_ext loopal_ipy")
    text = shell.run_line_magic("cron", "")
    for sub in ("create", "list", "delete", "pause", "resume", "run", "log", "wait", "next", "session"):
        assert text.count(f"%cron {sub}") == 1, sub


def test_help_fits_a_cell_and_never_splits_an_option(shell) -> None:
    """A cell is about 100 columns wide: help wraps narrower, and never inside `[--catch-up [GRACE]]`."""
    shell.run_cell("%load_ext loopal_ipy")
    text = str(shell.run_line_magic("cron", "help"))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 88, max(lines, key=len)
    flat = " ".join(line.strip() for line in lines)
    for whole in ("[--catch-up [GRACE]]", "[--if-exists update|keep|error]", "SCHEDULE CODE...", '"@every 10s"'):
        assert whole in flat, whole
    for line in lines:
        assert line.count("[") == line.count("]"), line


@pytest.mark.parametrize(
    "text",
    ["x] " + "word " * 40, "[unclosed " + "word " * 40, '"unclosed ' + "word " * 40, "a" * 100 + " b", "", "   "],
)
def test_help_wrapping_survives_unbalanced_text(text: str) -> None:
    """Help is made from usage strings a future option may spell oddly: an unbalanced bracket or quote
    costs at most its own word, never the wrapping of the rest."""
    from loopal_ipy.ui.magicargs import wrapped

    lines = wrapped(text, "  ", "    ")
    assert " ".join(" ".join(line.split()) for line in lines).split() == text.split()
    assert all(len(line) <= 88 or " " not in line.strip() for line in lines), lines  # only a lone long word is wider
    assert all(line.strip() for line in lines), lines


def test_unknown_subcommand(shell) -> None:
    shell.run_cell("%load_ext loopal_ipy")
    with pytest.raises(UsageError, match=r"^%cron has no subcommand 'frobnicate'; valid subcommands are: create, "):
        shell.run_line_magic("cron", "frobnicate")


def test_a_second_load_ext_says_nothing(shell, capsys) -> None:
    """Regression: after `loopal-ipy enable`, every notebook's own %load_ext printed "already loaded"."""
    shell.run_cell("%load_ext loopal_ipy")
    capsys.readouterr()
    shell.run_cell("%load_ext loopal_ipy")
    assert capsys.readouterr().out == ""
    shell.run_cell("%load_ext autoreload")
    shell.run_cell("%load_ext autoreload")  # other extensions: IPython's message as before
    assert "The autoreload extension is already loaded" in capsys.readouterr().out


def test_load_twice_and_unload_are_symmetric(shell) -> None:
    before_post = list(shell.input_transformers_post)
    before_conf = list(shell.configurables)
    shell.run_cell("%load_ext loopal_ipy")
    shell.run_cell("%load_ext loopal_ipy")
    assert len(shell.input_transformers_post) == len(before_post) + 1
    assert sum(type(c).__name__ == "Cron" for c in shell.configurables) == 1
    shell.run_cell("%reload_ext loopal_ipy")
    assert sum(type(c).__name__ == "Cron" for c in shell.configurables) == 1
    shell.run_cell("%unload_ext loopal_ipy")
    assert shell.input_transformers_post == before_post
    assert [c for c in shell.configurables if type(c).__name__ == "Cron"] == []
    assert all(c in shell.configurables for c in before_conf)
    assert "cron" not in shell.magics_manager.magics["line"]


def test_config_magic_reaches_the_configurable(shell) -> None:
    shell.run_cell("%load_ext loopal_ipy")
    shell.run_cell("%config Cron.max_jobs = 7")
    conf = next(c for c in shell.configurables if type(c).__name__ == "Cron")
    assert conf.max_jobs == 7
    # %config logs a rejected value and keeps the old one
    shell.run_cell("%config Cron.max_jobs = 0")
    assert conf.max_jobs == 7
    shell.run_cell("%config Cron.timezone = 'Mars/Base'")
    assert conf.timezone == ""


def test_wait_line_is_turned_into_an_await(shell) -> None:
    shell.run_cell("%load_ext loopal_ipy")
    assert "await get_ipython().find_magic('cron').__self__.wait_line('tick --runs 3')" in shell.transform_cell(
        "%cron wait tick --runs 3"
    )
    assert "await" in shell.transform_cell("n = %cron wait")
    # inside a function it cannot await: the magic explains instead
    assert "await" not in shell.transform_cell("def f():\n    %cron wait\n")
    with pytest.raises(UsageError, match=r"^%cron wait must stand alone on a line"):
        shell.run_line_magic("cron", "wait")
