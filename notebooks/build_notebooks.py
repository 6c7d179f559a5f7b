"""Write the example notebooks (quickstart, durable, recipes) with nbformat.

The .ipynb files are generated from this script so that they stay small,
reviewable and output-free. Edit the cells here, then run:

    python notebooks/build_notebooks.py

tests/kernel/test_notebooks.py executes every notebook in this folder in a real
kernel; each one checks its own schedules with ``%cron wait`` and ``assert``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

KERNEL_INFO = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
LANGUAGE_INFO = {"name": "python", "file_extension": ".py", "mimetype": "text/x-python"}


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip("\n"))


def code(text: str) -> nbformat.NotebookNode:
    return new_code_cell(text.strip("\n"))


def write(name: str, cells: list[nbformat.NotebookNode], out: Path = HERE) -> Path:
    nb = new_notebook(cells=cells, metadata={"kernelspec": KERNEL_INFO, "language_info": LANGUAGE_INFO})
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{Path(name).stem}-{i:02d}"  # stable ids: regenerating gives the same file
    nbformat.validate(nb)
    path = out / name
    nbformat.write(nb, path)
    return path


# --------------------------------------------------------------------------- quickstart
QUICKSTART = [
    md("""
# loopal_ipy quickstart: cron inside your kernel

`loopal_ipy` runs **code on a schedule inside this kernel**. A job sees and
changes this notebook's variables, keeps its own output log, and shows up in
`%cron list`. This notebook runs top to bottom in about 10 seconds: its
schedules are one or two seconds long.

Three things to know before you start:

1. **Jobs fire only while the kernel is idle.** A job never interrupts a
   running cell; what came due meanwhile fires once, right after the cell.
2. **A job's output goes to its own log** (`%cron log ID`), never into
   whichever cell happens to be running or ran last.
3. **`%cron wait` lets jobs fire while a cell waits.** *Run All* (or nbclient,
   papermill, CI) never leaves the kernel idle, so this notebook uses
   `%cron wait` wherever it wants to see a job run. In your own interactive
   work you don't need it: jobs fire between your cells.
"""),
    md("## Load the extension"),
    code("""
%load_ext loopal_ipy
import loopal_ipy
"""),
    md("""
## Create a job: the line form

`%cron create [--name N] [--once] [--durable] [--tz TZ] SCHEDULE CODE`

* `SCHEDULE` is **one word**; quote it when it has spaces: `"*/5 * * * *"`
  (5-field cron), `@hourly`, `@daily`, `"@every 10s"`.
* `CODE` is the rest of the line, verbatim.
* `--name` gives the job a name you can use instead of its 8-character id.
"""),
    code("ticks = 0"),
    code("""%cron create --name tick "@every 1s" ticks += 1; print("tick", ticks)"""),
    md("""
## Create a job: the cell form

With `%%cron create` the whole cell body is the job's code: handy for more
than one line.
"""),
    code("""
%%cron create --name report "@every 2s"
import datetime
print(f"report at {datetime.datetime.now():%H:%M:%S}: {ticks} ticks so far")
"""),
    md("""
## List the jobs

`%cron list` shows every job: schedule (with a plain-English description),
state, next fire with a countdown, last run and run/failure counts. In
JupyterLab and Notebook 7 (tested) it is a live table that updates itself as
jobs run, with buttons to pause/resume, run, delete and show the log (other
frontends that render standard ipywidgets, such as VS Code, should show it too,
untested); a saved notebook keeps a snapshot of it.
"""),
    code("%cron list"),
    md("""
## Let them fire: `%cron wait`

`%cron wait ID --runs N --timeout S` lets jobs fire while this cell waits,
and returns once job `ID` has run `N` more times (or fails with a clear
message after `S` seconds, which is what makes a broken schedule fail a
*Run All*).
"""),
    code("%cron wait tick --runs 3 --timeout 30"),
    code("""
assert ticks >= 3, ticks  # the job changed this notebook's variable
ticks
"""),
    md("""
## Read a job's log

The `print` in `tick` did not appear under any cell: it went to the job's
log. `%cron log ID [-n N]` shows the last runs with their output and status.
"""),
    code("%cron log tick -n 3"),
    md("The same, from Python: `loopal_ipy.get_scheduler()` is this kernel's scheduler."),
    code("""
job = loopal_ipy.get_scheduler().get("tick")
last = job.history[-1]
assert job.runs >= 3 and last.status == "ok" and last.output.startswith("tick"), (job.runs, last)
job.runs, last.status, last.output
"""),
    md("""
## Preview a schedule: `%cron next`

`%cron next SCHEDULE [-n N] [--tz TZ] [--from ISO-TIME]` shows the next
occurrences and what the schedule means. It creates nothing, so it is the
place to check a cron expression before you use it.
"""),
    code('%cron next "0 9 * * MON-FRI" -n 3'),
    md("""
### Daylight saving time

Jobs follow classic cron around DST changes. In New York, clocks jump from
02:00 to 03:00 on 8 March 2026, so 02:30 does not exist that night: a daily
02:30 job runs once, at 03:00. On 1 November 2026, 01:30 happens twice: a
daily 01:30 job runs once, the first time. `%cron next` marks those days.
"""),
    code('%cron next "30 2 * * *" --tz America/New_York --from 2026-03-06T00:00 -n 4'),
    code('%cron next "30 1 * * *" --tz America/New_York --from 2026-10-31T00:00 -n 3'),
    md("The same preview in Python, usable without a kernel: `loopal_ipy.next_fires`."),
    code("""
times = loopal_ipy.next_fires("30 2 * * *", n=4, tz="America/New_York", start="2026-03-06T00:00")
assert [t.strftime("%d %H:%M %Z") for t in times] == ["06 02:30 EST", "07 02:30 EST", "08 03:00 EDT", "09 02:30 EDT"]
times
"""),
    md("""
## Pause and resume

A paused job keeps its place in the table but does not fire. `resume`
schedules it from its next occurrence: missed occurrences are **not** caught up.
"""),
    code("%cron pause tick"),
    code("""
ticks_when_paused = ticks
%cron wait report --runs 1 --timeout 30
assert ticks == ticks_when_paused, "a paused job must not fire"
"""),
    code("%cron resume tick"),
    code("%cron wait tick --runs 1 --timeout 30"),
    md("""
## Run a job now

`%cron run ID` runs the job once, right now; its schedule does not change.
Its output goes to the log, like every run.
"""),
    code("%cron run report"),
    code("%cron log report -n 1"),
    md("""
## Delete

`%cron delete ID...` removes jobs. Jobs that are not `--durable` also go away
when the kernel stops, and expire on their own after 3 days (`Cron.max_age`).
"""),
    code("""
%cron delete report
assert [j.name for j in loopal_ipy.get_scheduler().jobs()] == ["tick"]
"""),
    md("""
## Still ticking

*Run All* stops here with `tick` alive: the table below keeps counting while
you read. When you are done, `%cron delete --all` removes every job of this
kernel (left out of *Run All* on purpose).
"""),
    code("%cron list"),
    md("""
## Next

* `%cron help` lists every subcommand.
* [durable.ipynb](durable.ipynb): jobs that come back after a kernel restart.
* [recipes.ipynb](recipes.ipynb): a live display, a folder watcher, an alert, an `await` job, a failure webhook.
"""),
]

# --------------------------------------------------------------------------- durable
DURABLE = [
    md("""
# Durable jobs: they come back after a restart

A job created with `--durable` is saved to disk for this notebook's
**session** and comes back by itself when the kernel restarts. Its **code**
is saved, not your variables: after a restart the namespace is new, so write
durable code that works in a fresh kernel (import what it uses, and use
`globals().get(...)` for state that may not exist yet).

This notebook runs top to bottom in about 10 seconds. It cannot restart its
own kernel, so it simulates a restart by unloading and loading the extension:
that stops the scheduler and rebuilds it from the file on disk, as a kernel
start does (unlike a real restart, your variables and non-durable jobs survive).
"""),
    md("""
## The session

Durable jobs belong to a session, normally this notebook file: Jupyter tells
the kernel the notebook's path, and the session id is `<notebook-name>-<hash
of its path>`. `LOOPAL_SESSION_ID` (or `%cron session NAME`) overrides it.
`%cron session` shows the id, the file the jobs are saved in, and which kernel
owns it (only one live kernel fires a session's durable jobs).
"""),
    code("""
%load_ext loopal_ipy
import loopal_ipy

%cron session
"""),
    md("""
## Create a durable job

A create cell is a **declaration**: "this job exists, defined so". Run it
again — or *Restart & Run All*, after which the job is already back — and it
finds the same job and says `unchanged`; edit the cell and run it, and the
job is updated in place (same id, its history and counts kept) and the line
says what changed. So this notebook needs no `%cron delete --all` at the top.
(`--if-exists keep` never changes an existing job; `--if-exists error` refuses
a name that is taken, as a plain create once did.)
"""),
    code("beats = 0  # the job counts its runs here"),
    code("""%cron create --durable --name heartbeat "@every 1s" beats = globals().get("beats", 0) + 1"""),
    code("""
again = %cron create --durable --name heartbeat "@every 1s" beats = globals().get("beats", 0) + 1
print(again)
assert "unchanged" in again, again
assert [j.name for j in loopal_ipy.get_scheduler().jobs()] == ["heartbeat"]
"""),
    code("""
%cron wait heartbeat --runs 2 --timeout 30
assert beats >= 2, beats
"""),
    md("""
The job is in the session's `cron.json` (UTF-8 JSON, written atomically,
folder `0700` and file `0600`). Only durable jobs are written there.
"""),
    code("""
import json
import pathlib

session = %cron session
store_line = next(line for line in session.splitlines() if line.startswith("store:"))
store_file = pathlib.Path(store_line.removeprefix("store:").strip())
saved = json.loads(store_file.read_text(encoding="utf-8"))
assert [j["name"] for j in saved["jobs"]] == ["heartbeat"], saved["jobs"]
print(store_file)
print({k: saved["jobs"][0][k] for k in ("id", "name", "schedule", "code", "durable", "recurring")})
"""),
    md("""
## A restart, with some downtime

Now a one-shot durable job, due in 2 seconds, and a "kernel shutdown" before
it is due. The cell below stops the scheduler right after creating the job;
the next one waits 3 seconds while nothing runs, then starts it again.
"""),
    code("""
created = %cron create --durable --once --name reminder "@every 2s" print("reminder!")
print(created)
%unload_ext loopal_ipy
"""),
    code("""
import time

time.sleep(3)  # the kernel is "down": both jobs come due, nothing runs
%load_ext loopal_ipy
"""),
    md("""
The line printed by `%load_ext` is the load summary (also in `%cron session`):

* **restored**: `heartbeat` is scheduled again. It is **not caught up**: its
  next fire is its first occurrence after the load, and the occurrences it
  missed while the kernel was down are only counted.
* **dropped**: the one-shot `reminder` missed its time while no kernel ran. A
  `--once` job is never run late after downtime; it is dropped and reported.

Delivery is **at most once per occurrence**: a job's `last_fired` is saved
*before* its code starts, so a crash in the middle of a run never replays
that occurrence after a restart.
"""),
    code("%cron session"),
    code("%cron list"),
    code("""
scheduler = loopal_ipy.get_scheduler()
assert [j.name for j in scheduler.jobs()] == ["heartbeat"], scheduler.jobs()
beats_before = beats
%cron wait heartbeat --runs 1 --timeout 30
assert beats == beats_before + 1, (beats_before, beats)
"""),
    md("""
## A real restart

After *Kernel → Restart*, the extension has to be loaded again before the
jobs can come back. Either run `%load_ext loopal_ipy` yourself, or let every
kernel load it at start, once per machine (or Binder image), from a terminal:

```bash
loopal-ipy enable    # adds loopal_ipy to the IPython profile's ipython_kernel_config.py
loopal-ipy status    # enabled / not enabled, and where
loopal-ipy disable   # removes exactly the block it added
```

With it enabled, a restarted kernel reschedules this notebook's durable jobs
without any cell being run. Here is the status for your profile:
"""),
    code("!loopal-ipy status"),
    md("""
To see what `enable` writes without touching your profile, point it at a
scratch IPython directory (`--ipython-dir`):
"""),
    code("""
import tempfile

import shutil

scratch = tempfile.mkdtemp(prefix="ipython-demo-")
!loopal-ipy enable --ipython-dir {scratch}
status = !loopal-ipy status --ipython-dir {scratch}
print(status.n)
assert status.n.startswith("enabled"), status
print(pathlib.Path(scratch, "profile_default", "ipython_kernel_config.py").read_text())
shutil.rmtree(scratch)  # a demo: leave nothing behind
"""),
    md("""
## Review restored jobs before they run: `rehydrate = "paused"`

Durable jobs are code that runs by itself when a kernel starts. If you'd
rather look at them first, set `Cron.rehydrate = "paused"` (here with
`%config`, or as `c.Cron.rehydrate = "paused"` in `ipython_kernel_config.py`):
restored jobs then come back **paused** until you `%cron resume` them.
`%reload_ext loopal_ipy` simulates the restart again (stop, then load from disk).
"""),
    code("""
%config Cron.rehydrate = "paused"
%reload_ext loopal_ipy
"""),
    code("%cron list"),
    code("""
assert loopal_ipy.get_scheduler().get("heartbeat").paused
%cron resume heartbeat
"""),
    code("%cron wait heartbeat --runs 1 --timeout 30"),
    code("""
%config Cron.rehydrate = "run"
"""),
    md("""
## Still beating

*Run All* stops here with `heartbeat` alive (and saved: it comes back after a
restart). When you are done, `%cron delete heartbeat` removes it, from the
session's file too (left out of *Run All* on purpose).
"""),
    code("""
assert [j["name"] for j in json.loads(store_file.read_text(encoding="utf-8"))["jobs"]] == ["heartbeat"]
%cron list
"""),
]

# --------------------------------------------------------------------------- recipes
RECIPES = [
    md("""
# Recipes

Seven realistic jobs that run offline, each checked with `%cron wait` and an
`assert` so that a broken schedule fails the run:

1. refresh a live display every few seconds,
2. watch a folder and react to new files,
3. check a condition and raise an alert,
4. an `await`-based job,
5. a webhook alert when a job fails (a hook),
6. hand a job to an engine that runs without this kernel (an export),
7. poll a flaky HTTP API with retries (and catch-up after downtime).

The schedules are one second long so the notebook runs in about 20 seconds;
in real use you'd pick `"@every 30s"`, `"*/5 * * * *"` or `@hourly`.

Remember: jobs fire only while no cell runs, and a job's `print` goes to its
log (`%cron log ID`). To see a job's output on the page, give it a **live view**
(`--show`, recipe 1), or **update widget state** (`widget.value = ...`,
`Output.append_stdout(...)`): both work from a job, even after a restart,
whatever cell ran last.
"""),
    code("""
%load_ext loopal_ipy
import asyncio
import os
import random
import tempfile
import time
from pathlib import Path

import ipywidgets as widgets

import loopal_ipy

scheduler = loopal_ipy.get_scheduler()
"""),
    md("""
## 1. A live display

A chart that follows the data: the job adds a reading and draws the last 60
with matplotlib; `--show` puts the job's latest run under the create cell, its
figure and its last expression, replaced in place on each run (the guide's
*Live charts and tables*). Here the "data" is a random walk; yours would read a
file, a queue or an API.
"""),
    code("""
import matplotlib.pyplot as plt

readings = [20.0]
"""),
    code("""
%%cron create --show --name refresh "@every 1s"
readings.append(readings[-1] + random.uniform(-1, 1))
del readings[:-60]  # keep the last 60 points
plt.figure(figsize=(5, 1.6))
plt.plot(readings, color="steelblue")
f"{len(readings)} points, latest {readings[-1]:.2f}, at {time.strftime('%H:%M:%S')}"
"""),
    code("""
%cron wait refresh --runs 3 --timeout 30
last = scheduler.get("refresh").last_run
assert len(readings) >= 4 and last.status == "ok" and len(last.images) == 1, (readings, last)
"""),
    md("""
Building your own page instead? Set widget values from a job: a small SVG
line chart in an `HTML` widget and a status `Label`, which the job updates in
place.
"""),
    code("""
def sparkline(values, width=320, height=60):
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    step = width / max(len(values) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - (v - lo) / span * height:.1f}" for i, v in enumerate(values))
    return (
        f'<svg width="{width}" height="{height}" style="border:1px solid #ddd">'
        f'<polyline points="{points}" fill="none" stroke="steelblue" stroke-width="2"/></svg>'
    )


chart = widgets.HTML(sparkline(readings))
status = widgets.Label("waiting for the first refresh")
display(widgets.VBox([status, chart]))
"""),
    code("""
%%cron create --name sparkline "@every 1s"
chart.value = sparkline(readings)
status.value = f"{len(readings)} points, latest {readings[-1]:.2f}, at {time.strftime('%H:%M:%S')}"
"""),
    code("""
%cron wait sparkline --runs 2 --timeout 30
assert status.value.startswith(f"{len(readings)} points"), (readings, status.value)
%cron delete sparkline
"""),
    md("""
No widgets where you run this (nbviewer, some terminals)? A display handle
works too: show it once from a cell with `display(..., display_id=True)`,
then the job calls `handle.update(...)`, which is aimed at that output.
"""),
    code("""
from IPython.display import Markdown

clock = display(Markdown("*the clock starts with the first run*"), display_id=True)
clock_updates = 0
"""),
    code("""
%%cron create --name clock "@every 1s"
clock.update(Markdown(f"**{time.strftime('%H:%M:%S')}**, latest reading {readings[-1]:.2f}"))
clock_updates += 1
"""),
    code("""
%cron wait clock --runs 2 --timeout 30
assert clock_updates >= 2
# `refresh` keeps going: the chart above moves while you read on
%cron delete clock
"""),
    md("""
## 2. Watch a folder and react to new files

The job looks for `*.csv` files it has not seen, processes each one (here:
counts its rows) and appends a line to an `Output` widget. Because jobs never
run while a cell runs, it never sees a half-written file written by this
notebook. (Other programs should write to a temporary name and rename.)
"""),
    code("""
import atexit
import shutil

inbox = Path(tempfile.mkdtemp(prefix="inbox-"))
atexit.register(shutil.rmtree, inbox, True)  # the job watches it while the kernel lives; gone at exit
seen = set()
processed = []
inbox_log = widgets.Output(layout={"border": "1px solid #ddd"})
display(inbox_log)
"""),
    code("""
%%cron create --name watch "@every 1s"
for path in sorted(inbox.glob("*.csv")):
    if path.name in seen:
        continue
    seen.add(path.name)
    rows = len(path.read_text().splitlines()) - 1  # minus the header
    processed.append((path.name, rows))
    inbox_log.append_stdout(f"{time.strftime('%H:%M:%S')} {path.name}: {rows} rows\\n")
"""),
    code("""
(inbox / "orders-1.csv").write_text("id,amount\\n1,9.50\\n2,12.00\\n")
(inbox / "orders-2.csv").write_text("id,amount\\n3,4.25\\n")
%cron wait watch --runs 1 --timeout 30
assert processed == [("orders-1.csv", 2), ("orders-2.csv", 1)], processed
"""),
    code("""
(inbox / "orders-3.csv").write_text("id,amount\\n4,1.00\\n5,2.00\\n6,3.00\\n")
%cron wait watch --runs 1 --timeout 30
assert processed[-1] == ("orders-3.csv", 3) and len(processed) == 3, processed
processed
"""),
    code("%cron delete watch"),
    md("""
## 3. Check a condition and raise an alert

A data feed should be refreshed every few seconds; if its file gets stale,
the job turns a widget red **and raises**. The exception does not reach your
cells: it is caught, its traceback goes to the job's log, the run counts as a
failure (the table shows the job as `error`), and the job stays scheduled,
so it turns green again once the feed recovers.
"""),
    code("""
feed = Path(tempfile.mkdtemp(prefix="feed-")) / "prices.json"
atexit.register(shutil.rmtree, feed.parent, True)
feed.write_text('{"price": 101.5}')
MAX_AGE = 5  # seconds
alert = widgets.HTML("<i>no check yet</i>")
display(alert)
"""),
    code("""
%%cron create --name feed_check "@every 1s"
age = time.time() - feed.stat().st_mtime
if age > MAX_AGE:
    alert.value = f"<b style='color:#c00'>⚠ feed stale: last update {age:.0f} s ago</b>"
    raise RuntimeError(f"{feed.name} is stale: last update {age:.0f} s ago (limit {MAX_AGE} s)")
alert.value = f"<span style='color:#080'>✓ feed fresh ({age:.1f} s old)</span>"
"""),
    code("""
%cron wait feed_check --runs 1 --timeout 30
check = scheduler.get("feed_check")
assert check.history[-1].status == "ok" and "fresh" in alert.value, (check.history[-1], alert.value)
"""),
    md("Now the feed stops: its file is an hour old."),
    code("""
an_hour_ago = time.time() - 3600
os.utime(feed, (an_hour_ago, an_hour_ago))
%cron wait feed_check --runs 1 --timeout 30
"""),
    code("%cron log feed_check -n 1"),
    code("""
last = check.history[-1]
assert last.status == "error" and "is stale" in last.error, last
assert check.failures >= 1 and check.state == "error" and "stale" in alert.value
assert check in scheduler.jobs()  # still scheduled
"""),
    md("The feed recovers; the next check is green again."),
    code("""
feed.write_text('{"price": 102.0}')
%cron wait feed_check --runs 1 --timeout 30
assert check.history[-1].status == "ok" and "fresh" in alert.value
%cron delete feed_check
"""),
    md("""
## 4. An `await`-based job

A job whose code uses top-level `await` runs as a task on the kernel's event
loop: while it awaits (a network call, `asyncio.sleep`), your cells keep
running. Here a "fetch" takes 1.5 s but the job is due every second. A job
never overlaps itself: an occurrence that comes due while the previous run
is still going is **skipped**, and the log says so.
"""),
    code("""
fetched = []


async def fetch_quote():
    await asyncio.sleep(1.5)  # stands in for an HTTP request
    return round(100 + random.uniform(-1, 1), 2)
"""),
    code("""
%%cron create --name fetch "@every 1s"
quote = await fetch_quote()
fetched.append(quote)
print("fetched", quote)
"""),
    code("%cron wait fetch --runs 2 --timeout 30"),
    code("%cron log fetch"),
    code("""
job = scheduler.get("fetch")
ok_runs = [r for r in job.history if r.status == "ok"]
assert len(fetched) >= 2 and len(ok_runs) >= 2, (fetched, list(job.history))
assert all(r.duration >= 1.4 for r in ok_runs), [r.duration for r in ok_runs]
assert job.skips >= 1, "an occurrence due during a run must be skipped, not overlap"
fetched
"""),
    code("%cron delete fetch"),
    md("""
## 5. A webhook alert when a job fails

`scheduler.on("failed", callback)` calls `callback` after every run that ends
in an error, with the job, the run and its error. Here it posts a Slack-style
JSON message to a webhook. So that the notebook runs offline, a tiny HTTP
server on 127.0.0.1 stands in for Slack; set `LOOPAL_WEBHOOK_URL` to a real
incoming-webhook URL to get the message for real. A callback runs on the
kernel's loop right after the run, outside your cells: keep it short (a
timeout on the request), or hand slow work to a thread.
"""),
    code("""
import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

received = []


class Inbox(BaseHTTPRequestHandler):  # stands in for Slack / Teams / your alerting endpoint
    def do_POST(self):
        received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):  # keep the notebook quiet
        pass


inbox_server = HTTPServer(("127.0.0.1", 0), Inbox)
threading.Thread(target=inbox_server.serve_forever, daemon=True).start()
WEBHOOK_URL = os.environ.get("LOOPAL_WEBHOOK_URL") or f"http://127.0.0.1:{inbox_server.server_port}/alert"
"""),
    code("""
def post_alert(event):
    \"\"\"Send one line to the webhook: which job failed, and its error's last line.\"\"\"
    error = (event.error or "error").strip().splitlines()[-1]
    body = json.dumps({"text": f"loopal_ipy: job {event.job.label} failed: {error}"}).encode()
    request = urllib.request.Request(WEBHOOK_URL, data=body, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).close()


stop_alerts = scheduler.on("failed", post_alert)
"""),
    code("""
%cron create --name flaky "@every 1s" raise ConnectionError("upstream timed out")
%cron wait flaky --runs 1 --timeout 30
for _ in range(50):  # the callback runs right after the run: give it a moment
    if received:
        break
    await asyncio.sleep(0.1)
assert received and "flaky" in received[0]["text"] and "ConnectionError" in received[0]["text"], received
received[0]
"""),
    code("""
stop_alerts()
%cron delete flaky
inbox_server.shutdown()
"""),
    md("""
## 6. When a job must outlive the kernel: export it

A job here lives as long as this kernel. When it must run while the laptop is
closed, or on a cluster, hand it to an engine: `%cron export ID` writes a
standalone notebook (the setup: of this notebook as saved, the statements
that define what the job's code reads, minus every loopal_ipy line and every
`assert`; then the job's code as the last cell) and gives it to
**jupyter-scheduler** when the Jupyter server running this kernel has it (it
then shows in JupyterLab's *Jobs* panel), or writes a **papermill bundle**:
the notebook, `run.sh` and the `crontab` line, for system cron or Airflow's
`PapermillOperator`. A bundle is run once before the export says it is done
(its first output lands in `outputs/`; `--no-check` skips that): an export that
would fail says so now, naming the cell, not at its first night. The job here
is unchanged. This recipe writes a bundle into a temporary folder, with no
setup (the job is self-contained):
"""),
    code("""
%%cron create --name disk_report "0 6 * * MON-FRI"
import shutil
total, used, free = shutil.disk_usage("/")
print(f"disk: {used / total:.0%} used, {free / 2**30:.1f} GiB free")
"""),
    code("""
import tempfile

export_dir = tempfile.mkdtemp(prefix="loopal-export-")
exported = scheduler.export("disk_report", to="papermill", directory=export_dir, setup="none")
print(exported)
print(open(f"{export_dir}/crontab").read())
assert {"crontab", "disk_report.ipynb", "run.sh"} <= set(os.listdir(export_dir))
if os.path.isdir(f"{export_dir}/outputs"):  # the check run's output notebook (without papermill, not checked)
    print(os.listdir(f"{export_dir}/outputs"))
shutil.rmtree(export_dir)  # a demo: in real use --dir names a folder that stays
"""),
    md("""
In JupyterLab with `pip install jupyter-scheduler`, `%cron export disk_report`
creates the job definition instead; `--setup history` takes the setup from the
code this kernel ran rather than from the saved notebook.
"""),
    code("%cron delete disk_report"),
    md("""
## 7. A flaky HTTP poll: retries, and catch-up after downtime

An API that answers `503` now and then should not cost you a whole period:
`--retries N --retry-delay S` tries a failed run again after S, 2S, 4S … seconds
(never at or past the next regular occurrence), each attempt a run in the log
marked "retry k of N"; the `failed` hook and the alerts fire once, when the last
attempt fails. Here a local server answers `503` twice, then `200`:
"""),
    code("""
flaky_calls = []


class FlakyAPI(BaseHTTPRequestHandler):  # 503, 503, then 200: what a busy upstream does
    def do_GET(self):
        flaky_calls.append(self.path)
        ok = len(flaky_calls) > 2
        self.send_response(200 if ok else 503)
        self.end_headers()
        self.wfile.write(b'{"price": 42}' if ok else b"busy")

    def log_message(self, *args):
        pass


api_server = HTTPServer(("127.0.0.1", 0), FlakyAPI)
threading.Thread(target=api_server.serve_forever, daemon=True).start()
API_URL = f"http://127.0.0.1:{api_server.server_port}/price"
prices = []
"""),
    code("""
%%cron create --retries 3 --retry-delay 1 --name poll "@every 10s"
with urllib.request.urlopen(API_URL, timeout=5) as response:  # raises on 503: the run fails
    prices.append(json.load(response)["price"])
"""),
    code("""
%cron wait poll --runs 3 --timeout 40
assert prices == [42] and len(flaky_calls) == 3, (prices, flaky_calls)
%cron log poll
"""),
    md("""
Three runs in the log: the scheduled one and its first retry failed (`503`),
the second retry, three seconds after the first run, worked. (`%cron run`
runs a job once now and never retries it.) A durable job can also **catch up**: with `--catch-up [GRACE]`,
if the kernel was down when an occurrence came due and that occurrence is
within GRACE (default: one period) when the job comes back, it runs once at
load, marked "catch-up for …" — never once per missed occurrence. Without it,
missed occurrences are reported and skipped, as cron does:

```python
%cron create --durable --catch-up 2h --name morning "0 9 * * MON-FRI" send_report()
```
"""),
    code("""
%cron delete poll
api_server.shutdown()
"""),
    md("""
## Still running

*Run All* stops here with the live view of recipe 1 (`refresh`) still
updating its chart. When you are done, `%cron delete --all` removes every job
of this kernel (left out of *Run All* on purpose).
"""),
    code("""
assert [j.name for j in scheduler.jobs()] == ["refresh"], scheduler.jobs()
%cron list
"""),
]


# ------------------------------------------------------------------------- dashboard
DASHBOARD = [
    md("""
# A live dashboard

A (made-up) sensor, sampled every second: the last two minutes as a chart and a
summary table, redrawn in place by a job that runs in this page's kernel
(`%cron show`, see the guide's *Live charts and tables*). The table at the
bottom shows the job.
"""),
    code("""
%load_ext loopal_ipy
import math
import random
import time

import matplotlib.pyplot as plt
import pandas as pd

import loopal_ipy

readings = pd.DataFrame({"seconds": [0.0], "°C": [50.0]})
started = time.time()


def sample():
    \"\"\"One more reading; the last two minutes are kept.\"\"\"
    global readings
    last = readings["°C"].iloc[-1]
    reading = {"seconds": time.time() - started, "°C": last + random.uniform(-2, 2) + 0.3 * math.sin(time.time() / 7)}
    readings = pd.concat([readings, pd.DataFrame([reading])], ignore_index=True).tail(120)


def chart():
    \"\"\"The readings as a chart, and their summary as a table (the job's last expression).\"\"\"
    fig, ax = plt.subplots(figsize=(6, 2.2))
    ax.plot(readings["seconds"], readings["°C"], color="#1565c0")
    ax.set_xlabel("seconds since the page opened")
    ax.set_ylabel("°C")
    return readings["°C"].describe()[["count", "mean", "min", "max"]].to_frame("°C").T.round(2)
"""),
    code("""
# The job that keeps the page moving; the trailing ';' keeps its "created" line off the page.
loopal_ipy.get_scheduler().create("@every 1s", "sample(); chart()", name="sensor");
_ = await loopal_ipy.wait("sensor", runs=1, timeout=30)
"""),
    code("%cron show sensor"),
    code("%cron list"),
]


def main(argv: list[str] | None = None) -> None:
    """Write the notebooks here, or into ``--out DIR`` (the test compares the two)."""
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[args.index("--out") + 1]) if "--out" in args else HERE
    notebooks = (("quickstart.ipynb", QUICKSTART), ("durable.ipynb", DURABLE), ("recipes.ipynb", RECIPES))
    for name, cells in (*notebooks, ("dashboard.ipynb", DASHBOARD)):
        print("wrote", write(name, cells, out))


if __name__ == "__main__":
    main()
