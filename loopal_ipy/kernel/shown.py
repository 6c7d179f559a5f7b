"""How long a kernel's jobs keep it alive (``Cron.keep_alive``).

Jobs are activity: a job's run and the widget updates it makes are iopub
traffic, and a Jupyter server's idle culler counts any traffic as use. For a
notebook that is right: close the tab, the jobs go on. For a dashboard it is
not: a Voila page's kernel must go with the page. But a kernel cannot see who
looks at it. So a live table carries a *pulse* (a hidden standard ``Play``
widget whose frontend model counts every second) and its beats say that a page
shows this kernel. With ``keep_alive = "while-shown"`` (the default under
Voila), once beats were seen and then stop for ``GRACE`` seconds, no job fires
and the tables stop ticking: the kernel falls silent and the culler takes it.
If beats come back (a hidden tab shown again), the jobs go on; the occurrences
that passed meanwhile are recorded as skipped, never run late.

A kernel that never beat (no table on any page) is treated as shown: holding
its jobs for good on a guess would be worse.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

GRACE = 3.0  # seconds without a beat after which no page shows the kernel (a beat comes every second)
BEAT_MS = 1000
MODES = ("auto", "always", "while-shown")
_VOILA = ("VOILA_BASE_URL", "VOILA_SERVER_URL", "VOILA_APP_PORT", "VOILA_KERNEL_ID")


def resolve(mode: str, env: Mapping[str, str]) -> str:
    """``auto`` is ``while-shown`` in a Voila page's kernel, ``always`` elsewhere."""
    if mode != "auto":
        return mode
    return "while-shown" if any(env.get(name) for name in _VOILA) else "always"


class Shown:
    """Whether a page shows this kernel, from the pulse's beats (monotonic time)."""

    def __init__(self, mode: str = "always") -> None:
        self.mode = mode
        self.last_beat: float | None = None
        self.held = False  # the bridge holds the jobs: no page showed the kernel

    def beat(self) -> bool:
        """A page showed the kernel just now; True if it had been gone (the jobs were held)."""
        self.last_beat = time.monotonic()
        was, self.held = self.held, False
        return was

    def gone(self) -> bool:
        return self.mode == "while-shown" and self.last_beat is not None and time.monotonic() - self.last_beat > GRACE
