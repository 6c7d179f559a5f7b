"""A job's pyplot figures are its own (docs/running.md, "Output").

pyplot keeps one registry of open figures (``Gcf``) and an implicit current
figure, shared by everything in the process. With the inline backend a job's
``plt.plot`` used to appear under the next unrelated cell (the cell's
``flush_figures`` shows every open figure), and a cell's ``plt.plot`` drew into
the job's figure. So while job code runs, ``Gcf`` holds the job's figures only
(the user's are set aside and put back after), and when the run ends its figures
become PNGs in its history and are dropped. Nothing here imports matplotlib: a
job that never touches pyplot costs two ``sys.modules`` lookups.
"""

from __future__ import annotations

import base64
import contextlib
import io
import sys
from collections.abc import Iterator
from typing import Any

MAX_IMAGES = 5  # per run; more are counted, not kept
MAX_IMAGE_BYTES = 1 << 20  # a PNG bigger than this is not kept (the run's log says so)
MAX_IMAGE_CHARS = 4 * ((MAX_IMAGE_BYTES + 2) // 3)  # the same, in base64
MAX_HTML = 5  # HTML displays kept per run (a DataFrame, a status card)
MAX_HTML_CHARS = 100_000  # each; a bigger one is kept as its words only


def _gcf() -> Any:
    helpers = sys.modules.get("matplotlib._pylab_helpers")
    return getattr(helpers, "Gcf", None)


def _inline_show() -> Any:
    """matplotlib_inline's ``show``: its flags decide what the next cell's flush_figures draws."""
    module = sys.modules.get("matplotlib_inline.backend_inline")
    return getattr(module, "show", None)


class JobFigures:
    """The figures of one run, kept out of the user's pyplot state between the run's steps."""

    def __init__(self) -> None:
        self.managers: dict[Any, Any] = {}
        self.notes: list[str] = []

    @contextlib.contextmanager
    def around(self) -> Iterator[None]:
        gcf, show = _gcf(), _inline_show()
        user = dict(gcf.figs) if gcf is not None else {}
        flags = (getattr(show, "_draw_called", False), list(getattr(show, "_to_draw", []))) if show else None
        if gcf is not None:
            gcf.figs.clear()
            gcf.figs.update(self.managers)
        try:
            yield
        finally:
            gcf = gcf or _gcf()  # the job may have imported pyplot just now
            if gcf is not None:
                self.managers = dict(gcf.figs)
                gcf.figs.clear()
                gcf.figs.update(user)  # in order: the user's current figure is current again
            show = show or _inline_show()
            if show is not None:
                show._draw_called, show._to_draw = flags if flags is not None else (False, [])

    def pngs(self) -> list[str]:
        """The run's figures as base64 PNGs, once, at its end; the figures are then dropped."""
        images: list[str] = []
        managers, self.managers = self.managers, {}
        for manager in managers.values():
            if len(images) >= MAX_IMAGES:
                self.notes.append(f"[{len(managers) - MAX_IMAGES} more figure(s) not kept: {MAX_IMAGES} per run]")
                break
            try:
                buf = io.BytesIO()
                manager.canvas.figure.savefig(buf, format="png", bbox_inches="tight")
            except Exception as e:  # a figure that cannot draw is the job's error, not the runner's
                self.notes.append(f"[a figure could not be drawn: {type(e).__name__}: {e}]")
                continue
            data = buf.getvalue()
            if len(data) > MAX_IMAGE_BYTES:
                self.notes.append(f"[a {len(data) >> 10} KiB figure not kept: over {MAX_IMAGE_BYTES >> 20} MiB]")
                continue
            images.append(base64.b64encode(data).decode("ascii"))
        return images
