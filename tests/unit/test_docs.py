"""The documentation a user reads: a short README, no references a user cannot follow, and a link
checker that catches what it must (the guide's build itself runs in scripts/docs.sh)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import check_links  # noqa: E402

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_readme_is_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) < 300


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_no_reference_a_user_cannot_open(page: Path) -> None:
    text = page.read_text()
    found = re.findall(r"S[P]EC\s*§|\(issue \d+|issue \d+'s|\bused to\b", text)  # [P]: no literal here
    assert found == [], found


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_of_the_markdown_lead_to_files(page: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if "://" in target:
            continue
        # docs/notebooks/ is the build's copy of notebooks/ (scripts/docs.sh): the originals count
        copied = page.parent.name == "docs" and target.startswith("notebooks/")
        where = ROOT / target if copied else page.parent / target
        assert where.exists(), f"{page.name} links to {target}, which does not exist"


def test_the_link_checker_finds_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(
        '<a href="a.html#here">ok</a><a href="a.html#gone">anchor</a><a href="nope.html">file</a>'
        '<a href="https://example.org/x">external</a><img src="pic.png">'
    )
    (tmp_path / "a.html").write_text('<h1 id="here">A</h1>')
    (tmp_path / "pic.png").write_bytes(b"png")
    broken = check_links.check(tmp_path)
    assert broken == ["index.html: a.html#gone (no such anchor)", "index.html: nope.html (no such file)"], broken
