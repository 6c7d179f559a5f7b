"""Cron.keep_alive's decisions (shown.py): which mode applies, and when a page is gone."""

from __future__ import annotations

import pytest

from loopal_ipy.kernel import shown


@pytest.mark.parametrize(
    ("mode", "env", "resolved"),
    [
        ("auto", {}, "always"),
        ("auto", {"VOILA_BASE_URL": "/"}, "while-shown"),
        ("auto", {"VOILA_KERNEL_ID": "abc"}, "while-shown"),
        ("always", {"VOILA_BASE_URL": "/"}, "always"),
        ("while-shown", {}, "while-shown"),
    ],
)
def test_auto_is_while_shown_under_voila_only(mode: str, env: dict[str, str], resolved: str) -> None:
    assert shown.resolve(mode, env) == resolved


def test_a_page_is_gone_only_after_beats_were_seen_and_then_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(shown.time, "monotonic", lambda: now[0])
    s = shown.Shown("while-shown")
    now[0] += 60
    assert not s.gone()  # never beat: no table on a page, treated as shown
    assert s.beat() is False
    now[0] += shown.GRACE - 0.1
    assert not s.gone()
    now[0] += 0.2
    assert s.gone()
    s.held = True
    assert s.beat() is True and not s.held and not s.gone()  # back: the bridge lets the jobs go on
    always = shown.Shown("always")
    always.beat()
    now[0] += 1000
    assert not always.gone()
