"""Session ids and store paths (docs/durable.md): resolution order, sanitising hostile names, containment."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopal_ipy.storage.session import (
    MAX_ID_LEN,
    SessionInfo,
    is_safe_session_id,
    loopal_home,
    notebook_session_id,
    random_session_id,
    resolve_session,
    sanitize_session_id,
    session_dir,
)
from loopal_ipy.storage.store import Store

SAFE = re.compile(r"^[A-Za-z0-9._-]+$")
HOSTILE = [
    "../../etc",
    "..",
    ".",
    "/",
    "/etc/passwd",
    "a/b/c",
    "a\\..\\b",
    "nul\x00byte",
    "x/../../..",
    "Ünïcødé-笔记本",
    "笔记本",
    "💥",
    "-rf",
    ".hidden",
    "...",
    "a" * 10_000,
    "../" * 500 + "etc",
    " spaced out ",
    "tab\tnew\nline",
    "%2e%2e%2f",
    "C:\\Windows",
    "\u202eevil",
]


def sha8(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_become_one_safe_component(name, tmp_path):
    sid = sanitize_session_id(name)
    assert SAFE.match(sid) and sid not in (".", "..") and len(sid) <= MAX_ID_LEN
    assert is_safe_session_id(sid)
    path = session_dir(tmp_path, sid)
    assert path.parent == tmp_path / "sessions"
    assert os.path.realpath(path).startswith(os.path.realpath(tmp_path / "sessions") + os.sep)


def test_escaping_examples_one_to_one():
    # Safe names (and every id made before) are their own id; others are escaped, never collapsed.
    assert [sanitize_session_id(n) for n in ("my-project", "my_project", "v1.2", "1f2e3d4c-aaaa")] == [
        "my-project",
        "my_project",
        "v1.2",
        "1f2e3d4c-aaaa",
    ]
    assert sanitize_session_id("a b") == "a__20b"
    assert sanitize_session_id("a/b") == "a__2fb"
    assert sanitize_session_id("a-b") == "a-b"
    assert sanitize_session_id("café") == "caf__c3__a9" != sanitize_session_id("cafe")
    assert sanitize_session_id("../../etc") == "__2e.__2f..__2fetc"
    assert sanitize_session_id("x__y") == "x__5f__5fy"  # a safe name holding the escape is escaped too
    nfd = unicodedata.normalize("NFD", "café")
    assert nfd != "café" and sanitize_session_id(nfd) == sanitize_session_id("café")
    long_id = sanitize_session_id("a" * 10_000)
    assert len(long_id) == MAX_ID_LEN and long_id.endswith(sha8("a" * 10_000))
    assert sanitize_session_id("a" * 10_000) != sanitize_session_id("a" * 10_001)


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
@settings(max_examples=2000, deadline=None)
def test_distinct_names_never_share_a_session(a, b):
    if not a.strip() or not b.strip() or unicodedata.normalize("NFC", a) == unicodedata.normalize("NFC", b):
        return
    assert sanitize_session_id(a) != sanitize_session_id(b), (a, b)


@pytest.mark.parametrize("empty", ["", "   ", "\n"])
def test_empty_session_id_is_refused(empty):
    with pytest.raises(ValueError, match=r"^a session id must be a non-empty string"):
        sanitize_session_id(empty)


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_text_sanitises_to_a_safe_id(text):
    if not text.strip():
        return
    sid = sanitize_session_id(text)
    assert is_safe_session_id(sid)
    assert session_dir(Path("/home/u/.loopal"), sid).parent == Path("/home/u/.loopal/sessions")


@pytest.mark.parametrize("bad", ["../x", "..", ".", "", "a/b", "a\x00b", "-x", ".x", "é", "a" * (MAX_ID_LEN + 1)])
def test_session_dir_refuses_unsafe_ids(bad, tmp_path):
    with pytest.raises(ValueError, match=r"^unsafe session id "):
        session_dir(tmp_path, bad)
    with pytest.raises(ValueError):
        Store(tmp_path, bad)


def test_resolution_order():
    env = {"LOOPAL_SESSION_ID": "from-env", "JPY_SESSION_NAME": "/nb/A.ipynb"}
    ns = {"__session__": "/nb/B.ipynb", "__vsc_ipynb_file__": "/nb/C.ipynb"}
    conn = "/run/jupyter/kernel-1f2e3d4c-aaaa.json"
    assert resolve_session(env, ns, conn, override="../mine") == SessionInfo("__2e.__2fmine", "override", "../mine")
    assert resolve_session(env, ns, conn) == SessionInfo("from-env", "env", "LOOPAL_SESSION_ID")
    del env["LOOPAL_SESSION_ID"]
    assert resolve_session(env, ns, conn) == SessionInfo(f"a-{sha8('/nb/A.ipynb')}", "notebook", "/nb/A.ipynb")
    assert resolve_session({}, ns, conn).id == f"b-{sha8('/nb/B.ipynb')}"
    assert resolve_session({}, {"__vsc_ipynb_file__": "/nb/C.ipynb"}, conn).id == f"c-{sha8('/nb/C.ipynb')}"
    assert resolve_session({}, {}, conn) == SessionInfo("1f2e3d4c-aaaa", "kernel", conn)
    assert resolve_session({}, {}, "/tmp/not-a-kernel-file.json") is None
    assert resolve_session({"LOOPAL_SESSION_ID": " "}, {"__session__": ""}, None) is None


def test_nfc_and_nfd_spellings_of_one_notebook_path_are_one_session():
    nfc = "/home/u/Résumé.ipynb"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd and notebook_session_id(nfc) == notebook_session_id(nfd)


def test_nothing_names_the_kernel_so_it_gets_its_own_session():
    info = resolve_session({}, {}, "/tmp/tmpabc123.json", fallback="kernel-run-0123abcd")
    assert info == SessionInfo("kernel-run-0123abcd", "this kernel only", "")
    assert is_safe_session_id(random_session_id()) and random_session_id() == random_session_id()


def test_notebook_id_uses_the_absolute_normalised_path():
    sid = notebook_session_id("work/../My Analysis (final).ipynb", cwd="/home/u")
    assert sid == f"my-analysis-final-{sha8('/home/u/My Analysis (final).ipynb')}"
    assert notebook_session_id("/x/笔记本.ipynb") == f"notebook-{sha8('/x/笔记本.ipynb')}"
    assert notebook_session_id("/a/nb.ipynb") != notebook_session_id("/b/nb.ipynb")
    assert is_safe_session_id(notebook_session_id("/../" + "z" * 500 + ".ipynb"))


def test_loopal_home_precedence():
    env = {"HOME": "/home/u", "LOOPAL_HOME": "/srv/loopal"}
    assert loopal_home(env, "/cfg/home") == Path("/cfg/home")
    assert loopal_home(env, None) == Path("/srv/loopal")
    assert loopal_home({"HOME": "/home/u"}, None) == Path("/home/u/.loopal")
    assert loopal_home({"HOME": "/home/u"}, "~/custom") == Path("/home/u/custom")
