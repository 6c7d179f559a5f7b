"""One run's output (docs/running.md, "Output"): what capture.py routes to, fdcapture.py feeds, and the log keeps.

Two records of it: the log's text (its last ``limit`` characters, displays as their text), and
``shown``, what a cell would have shown, in order (printed text, displays with their rich data),
which a live view draws (docs/live.md). Both are bounded.
"""

from __future__ import annotations

import html as htmllib
import json
import re
from typing import Any, Protocol

from ..core.figures import MAX_HTML, MAX_HTML_CHARS, MAX_IMAGE_CHARS, MAX_IMAGES
from ..core.job import clean_text, tail_text

# What a display keeps for a view: the mimetypes a notebook draws, and a widget's view (its model is the user's).
SHOWN_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg", "image/svg+xml")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MAX_SHOWN = 20  # displays a run may show in a view; more are counted, not kept
MAX_METADATA = 2_000  # characters of a display's metadata (an image's width) a view keeps
_DEFAULT_REPR = re.compile(r"^<[\w.]+ object(?: at 0x[0-9a-f]+)?>$")
_TAG = re.compile(r"<[^>]*>")


def as_text(data: dict[str, Any]) -> str:
    """A display as the log's text: its text/plain, unless that is only ``<… object>`` and more is there."""
    plain = data.get("text/plain")
    if isinstance(plain, str) and not _DEFAULT_REPR.match(plain):
        return plain
    for mime in ("text/markdown", "text/latex"):
        if isinstance(data.get(mime), str):
            return str(data[mime])
    if isinstance(data.get("text/html"), str):  # the words of the HTML, without its tags
        return " ".join(htmllib.unescape(_TAG.sub(" ", data["text/html"])).split())
    if isinstance(plain, str):
        return plain
    return "<display: " + ", ".join(sorted(map(str, data))) + ">"


def _bound(mime: str) -> int:
    return MAX_IMAGE_CHARS if mime in ("image/png", "image/jpeg") else MAX_HTML_CHARS


def _kept(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The parts of a display a view may draw, each within its bound (text/plain is cut to it), and what
    was left out, said in words."""
    kept: dict[str, Any] = {}
    left: list[str] = []
    for mime in SHOWN_MIMES:
        value = data.get(mime)
        if not isinstance(value, str):
            continue
        value = clean_text(value)
        if mime == "text/plain" and len(value) > MAX_HTML_CHARS:
            value = value[:MAX_HTML_CHARS] + f"… [{len(value) - MAX_HTML_CHARS:,} more characters]"
        if len(value) > _bound(mime):
            left.append(f"a {mime} part of {len(value):,} characters (over {_bound(mime):,})")
            continue
        kept[mime] = value.replace("\n", "") if mime in ("image/png", "image/jpeg") else value
    view = data.get(WIDGET_VIEW)
    if isinstance(view, dict) and isinstance(view.get("model_id"), str) and len(view) <= 8:
        kept[WIDGET_VIEW] = {k: v for k, v in view.items() if isinstance(v, str | int)}
    return kept, left


def _metadata(metadata: Any) -> dict[str, Any]:
    """A display's metadata (``Image(width=40)``), when it is small and plain; else none."""
    if not isinstance(metadata, dict) or not metadata:
        return {}
    try:
        text = json.dumps(metadata)
    except (TypeError, ValueError, RecursionError):  # not JSON (a set, a cycle): a cell would refuse it too
        return {}
    return dict(json.loads(text)) if len(text) <= MAX_METADATA else {}  # a copy: the job may change its own


class FdReader(Protocol):
    """What a run's fd-level file offers its buffer (fdcapture.FdFile)."""

    def take(self) -> tuple[str, int]: ...


class Buffer:
    """One run's output; keeps its *last* ``limit`` characters (the latest output matters most)."""

    def __init__(self, limit: int, owner: str | None = None) -> None:
        self.owner = owner  # the job whose run this is (None: a hook's)
        self.parts: list[str] = []
        self.kept = 0  # characters in parts
        self.size = 0  # characters written in all
        self.limit = limit
        self.fd_file: FdReader | None = None
        self.images: list[str] = []  # base64 PNGs the run displayed
        self.html: list[str] = []  # HTML it displayed
        self.shown: list[dict[str, Any]] = []  # what a cell would have shown, in order (nbformat outputs)
        self._shown_text = 0  # characters of printed text in shown (its first ``limit`` are kept)
        self._displays = 0  # displays shown (kept or not)
        self._ids: dict[str, dict[str, Any]] = {}  # display_id -> its display in shown (handle.update)
        self.nested_error: str | None = None  # a traceback a nested run_cell or %run showed: the run failed
        # The run ended. A callback it scheduled (loop.call_later copies the context, buffer
        # and all) may still write: that goes out like a thread's output, never into a void.
        self.closed = False

    def write(self, text: str, stream: str = "stdout") -> None:
        """Printed text (``stream``: stdout or stderr)."""
        if self.fd_file is not None:  # what reached fd 1/2 before this write comes first
            self._take_fd()
        self._add(text)
        self._show_text(text, stream)

    def display(self, data: dict[str, Any], log: bool = True, metadata: Any = None, display_id: Any = None) -> None:
        """A display (``display(df)``, the last expression): its text to the log, its PNG and HTML kept for
        the log view (5 of each), its drawable parts for a live view. ``log=False``: for a view only (a
        figure, which the log keeps as it is drawn)."""
        if log:
            if self.fd_file is not None:
                self._take_fd()
            self._add(f"{as_text(data)}\n")
            png = data.get("image/png")
            if isinstance(png, str) and len(self.images) < MAX_IMAGES and len(png) <= MAX_IMAGE_CHARS:
                self.images.append(png.replace("\n", ""))
            markup = data.get("text/html")
            if isinstance(markup, str) and len(self.html) < MAX_HTML and len(markup) <= MAX_HTML_CHARS:
                self.html.append(markup)
        self._displays += 1
        if self._displays > MAX_SHOWN:
            if self._displays == MAX_SHOWN + 1:
                self._note(f"[more displays not shown here: {MAX_SHOWN} per run]\n")
            return
        kept, left = _kept(data)
        if left:
            self._note(f"[not shown here: {'; '.join(left)}]\n")
        if not kept:
            return
        out = {"output_type": "display_data", "data": kept, "metadata": _metadata(metadata)}
        if isinstance(display_id, str):
            self._ids[display_id] = out
        self.shown.append(out)

    def update(self, display_id: Any, data: dict[str, Any], metadata: Any = None) -> bool:
        """``handle.update(...)`` of a display this run made: the view shows the new data in its place.
        False if the run made no display of that id (the update is aimed at a place the user chose)."""
        out = self._ids.get(display_id) if isinstance(display_id, str) else None
        if out is None:
            return False
        kept, _ = _kept(data)
        out["data"], out["metadata"] = kept, _metadata(metadata)
        self._add(f"{as_text(data)}\n")
        return True

    def clear(self) -> None:
        """``clear_output()`` from the job: what a view would show so far goes (the log keeps its text)."""
        self.shown.clear()
        self._ids.clear()
        self._shown_text = 0

    def _note(self, text: str) -> None:
        """What a view left out, said even when its printed text is used up (at most one a display)."""
        self.shown.append({"output_type": "stream", "name": "stderr", "text": text})

    def _show_text(self, text: str, stream: str) -> None:
        room = self.limit - self._shown_text
        if not text or room < 0:
            return
        text = clean_text(text)
        if len(text) > room:
            text = text[:room] + "\n[… the rest is in the log: %cron log]\n"
            self._shown_text = self.limit + 1
        else:
            self._shown_text += len(text)
        last = self.shown[-1] if self.shown else None
        if last is not None and last["output_type"] == "stream" and last["name"] == stream:
            last["text"] += text
        else:
            self.shown.append({"output_type": "stream", "name": stream, "text": text})

    def _take_fd(self) -> None:
        assert self.fd_file is not None
        text, skipped = self.fd_file.take()
        self.size += skipped
        self._add(text)
        self._show_text(text, "stdout")

    def _add(self, text: str) -> None:
        if not text:
            return
        self.parts.append(text)
        self.kept += len(text)
        self.size += len(text)
        if self.kept > 2 * self.limit + 1024:  # amortised: drop the oldest beyond the limit
            tail = "".join(self.parts)[-self.limit :]
            self.parts, self.kept = [tail], len(tail)

    def text(self) -> str:
        """The output so far, cut to its last ``limit`` characters with a note saying how many went."""
        if self.fd_file is not None:
            self._take_fd()
        return tail_text("".join(self.parts), self.limit, dropped=self.size - self.kept)
