"""Every internal link of the built guide leads somewhere: the file exists and so does its #anchor.

Offline by design (external links are not followed). Usage: python scripts/check_links.py docs/_build/html
"""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name"):
            if values.get(key):
                self.ids.add(values[key] or "")
        target = values.get("href") if tag in ("a", "link") else values.get("src") if tag in ("img", "script") else None
        if target:
            self.links.append(target)


def check(root: Path) -> list[str]:
    pages: dict[Path, _Page] = {}
    for path in root.rglob("*.html"):
        page = _Page()
        page.feed(path.read_text(encoding="utf-8"))
        pages[path.resolve()] = page
    broken = []
    for path, page in pages.items():
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:")):
                continue  # external: not followed here
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if not target.exists():
                broken.append(f"{path.relative_to(root.resolve())}: {link} (no such file)")
                continue
            if parts.fragment and target.suffix == ".html":
                known = pages.get(target)
                if known is None or unquote(parts.fragment) not in known.ids:
                    broken.append(f"{path.relative_to(root.resolve())}: {link} (no such anchor)")
    return broken


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/_build/html")
    if not (root / "index.html").exists():
        print(f"{root} holds no built guide (no index.html)", file=sys.stderr)
        return 2
    broken = check(root)
    for line in broken:
        print(line, file=sys.stderr)
    print(f"internal links: {'all found' if not broken else f'{len(broken)} broken'} in {root}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
