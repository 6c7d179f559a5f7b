"""``%cron``: one router over one table of subcommands.

This and its argument reader (magicargs.py) are the only places errors become
``UsageError`` — the exact class, because IPython shows only that class as a one-line message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.display import display
from IPython.utils.text import DollarFormatter

from ..core.declare import Declared
from ..core.errors import CronError
from ..core.job import CronJob
from ..core.schedule import next_fires, parse_schedule
from . import columns, render
from .magicargs import (
    CRON_FIELD,
    InputError,
    Parser,
    Text,
    create_options,
    create_usage,
    edit_options,
    edit_usage,
    parse_wait,
    shell_words,
    short,
    split_word,
    wrapped,
)

if TYPE_CHECKING:
    from ..kernel.face import SchedulerFace

    TableMaker = Callable[[SchedulerFace], object]  # the live table for a scheduler (widget.CronTable)
    ViewMaker = Callable[[SchedulerFace, str], None]  # shows a job's live view under the cell (view.CronView)


def _said(got: Declared, kind: str, now: datetime, unsaved: str | None) -> str:
    """The one line a create (or edit) answers: created, unchanged, updated (and how) or kept."""
    job = got.job
    if job.paused:
        when = f"paused — %cron resume {job.name or job.id} restarts it"
    elif (start := job.next_start) is None:
        when = "no next fire"
    else:
        when = f"next fire {render.local(start, job.tz)} ({render.in_words(start, now)}){render.next_what(job)}"
    if got.outcome == "created":
        said = f"created {kind} {job.label} — {job.description}; {when}"
    elif got.outcome == "unchanged":
        said = f"job {job.label} unchanged; {when}"
    elif got.outcome == "updated":
        said = f"job {job.label} updated: {'; '.join(got.changes)}; {when}"
    else:
        said = f"job {job.label} kept as it is (--if-exists keep); this create differs: {'; '.join(got.changes)}"
    if unsaved and got.outcome != "unchanged":
        said += f"\n⚠ not saved yet — {unsaved}; it runs from memory and saving is retried"
    return said


MARK = "loopal_ipy"  # set on the UsageErrors of %cron: a kernel shows them as an error output too


def refusal(message: str) -> UsageError:
    """The one-line UsageError a user reads (the exact class: IPython shows only it as one line), marked
    so that a kernel also sends it as an error output, which papermill, nbmake and nbclient print."""
    error = UsageError(" ".join(message.split()))
    setattr(error, MARK, True)
    return error


@contextlib.contextmanager
def refusals(sub: str, waits: bool = False) -> Iterator[None]:
    """Whatever refuses a %cron command leaves as one marked line (a wait's give-up too)."""
    caught: type[BaseException] | tuple[type[BaseException], ...] = (
        (CronError, TimeoutError, LookupError, ValueError) if waits else CronError
    )
    try:
        yield
    except UsageError as e:  # one line, even when it quotes input that held newlines
        raise refusal(str(e)) from None
    except InputError as e:
        raise refusal(f"%cron {sub}: {e}") from None
    except caught as e:
        raise refusal(str(e)) from None


@dataclass(frozen=True)
class Command:
    handler: Callable[..., object]
    said: str | Callable[[], str]  # its usage; create's is worked out when asked (core/options.py may grow)
    help: str

    @property
    def usage(self) -> str:
        return self.said if isinstance(self.said, str) else self.said()


@magics_class
class CronMagics(Magics):
    """The ``%cron`` line and ``%%cron`` cell magic."""

    def __init__(
        self,
        shell: Any,
        get_bridge: Callable[[], SchedulerFace | None],
        get_table: Callable[[], TableMaker | None] = lambda: None,
        get_view: Callable[[], ViewMaker | None] = lambda: None,
    ) -> None:
        super().__init__(shell)
        self._get_bridge = get_bridge
        self._get_table = get_table  # bridge -> live table widget, or None for the text snapshot
        self._get_view = get_view  # (bridge, job): shows the job's live view
        self.commands = self._commands()

    def _commands(self) -> dict[str, Command]:
        """The subcommands, in the order help lists them."""
        return {
            "create": Command(
                self._create,
                lambda: f"create {' '.join(f'[{o}]' for o in create_usage().split(', '))} SCHEDULE CODE...",
                "schedule CODE (the rest of the line, or the cell body with %%cron); run again, the same "
                "job (updated if changed)",
            ),
            "edit": Command(
                self._edit,
                lambda: "edit " + edit_usage(),
                "change a job in place (same id, history and counts); %%cron edit ID takes the cell as code",
            ),
            "list": Command(self._list, "list", "the job table"),
            "delete": Command(self._delete, "delete ID... | --all", "remove jobs"),
            "pause": Command(self._pause, "pause ID...", "stop firing, keep the job"),
            "resume": Command(self._resume, "resume ID...", "fire again from the next occurrence (no catch-up)"),
            "run": Command(self._run, "run ID", "run once now; the schedule is unchanged"),
            "log": Command(self._log, "log ID [-n N]", "run history with outputs and errors"),
            "show": Command(
                self._show,
                "show ID",
                "the job's latest run (figures, tables, text, error) live under this cell, replaced on each run",
            ),
            "wait": Command(
                self._wait,
                "wait [ID] [--runs N] [--timeout S]",
                "let jobs fire while this cell waits, until ID ran N more times",
            ),
            "next": Command(
                self._next,
                "next SCHEDULE [-n N] [--tz TZ] [--from ISO-TIME]",
                "preview the next occurrences; creates nothing",
            ),
            "session": Command(
                self._session, "session [NAME] | --adopt OTHER", "show (or switch) the session id, store path and owner"
            ),
            "export": Command(
                self._export,
                "export ID [--to jupyter-scheduler|papermill] [--dir DIR] [--setup notebook|history|none] [--no-check]",
                "hand the job to an engine that runs without this kernel (docs/export.md)",
            ),
            "help": Command(self._help, "help", "this list"),
        }

    # ------------------------------------------------------------ routing
    @no_var_expand  # CODE is verbatim (docs/schedules.md): IPython would expand $x and {x} before we see it
    @line_cell_magic
    def cron(self, line: str, cell: str | None = None) -> Any:
        """Schedule code in this kernel: %cron create "*/5 * * * *" refresh() — see %cron help."""
        sub, _, rest = line.strip().partition(" ")
        if not sub:
            return self._help("")
        with refusals(sub):
            command = self.commands.get(sub)
            if command is None:
                raise UsageError(f"%cron has no subcommand {sub!r}; valid subcommands are: {', '.join(self.commands)}")
            if cell is not None and sub not in ("create", "edit"):
                raise UsageError(f"%%cron only takes 'create' or 'edit' (the cell body is the code); got {sub!r}")
            return command.handler(rest.strip(), cell) if sub in ("create", "edit") else command.handler(rest.strip())

    def _bridge(self, what: str) -> SchedulerFace:
        bridge = self._get_bridge()
        if bridge is None:
            if what == "session":  # it only shows information: say what there is to show
                raise UsageError(
                    "%cron session: terminal IPython keeps no jobs, so it has no session (sessions belong "
                    "to Jupyter kernels); %cron next works here"
                )
            raise UsageError(
                f"%cron {what} needs a Jupyter kernel (ipykernel): terminal IPython runs no event loop "
                "between prompts, so nothing could fire. %cron next works here."
            )
        return bridge

    def _parser(self, name: str) -> Parser:
        return Parser(prog=name, usage=self.commands[name].usage.partition(" ")[2] or None, add_help=False)

    # ----------------------------------------------------------- handlers
    def _create(self, rest: str, cell: str | None) -> object:
        bridge = self._bridge("create")
        opts, rest, show = create_options(rest)
        schedule, quoted, rest = split_word(rest)
        if not schedule:
            raise UsageError('%cron create: no schedule given; usage: %cron create "*/5 * * * *" CODE')
        if not quoted and schedule.lower() == "@every":
            duration, _, rest = split_word(rest)
            schedule = f"@every {duration}"
        elif not quoted and not schedule.startswith("@") and CRON_FIELD.match(schedule):
            raise UsageError(
                f'%cron create: put the schedule in quotes, e.g. %cron create "{schedule} * * * *" CODE '
                "(it is one word; the rest of the line is the code)"
            )
        code = cell if cell is not None else rest
        if cell is not None and rest.strip():
            raise UsageError(f"%%cron create: the code is the cell body; unexpected text after the schedule: {rest!r}")
        if not code.strip():
            raise UsageError(
                f"%cron create: no code given after the schedule {schedule!r}; "
                f'e.g. %cron create "{schedule}" refresh(), or use %%cron create "{schedule}" with the code below'
            )
        got = bridge.declare(schedule, code, **opts)
        kind = "one-shot" if opts["once"] else ("durable" if opts["durable"] else "job")
        said = Text(_said(got, kind, bridge.now(), bridge.unsaved() if got.job.durable else None))
        if not show:
            return said
        display(said)  # the create's line, then its view
        return self._view(bridge, got.job.id)

    def _show(self, rest: str) -> object:
        bridge = self._bridge("show")
        ids = shell_words(rest)
        flags = [w for w in ids if w.startswith("-")]
        if flags:
            raise UsageError(f"%cron show takes no options, got {short(flags[0], 30)}; usage: %cron show ID (or NAME)")
        if len(ids) != 1:
            raise UsageError(f"%cron show takes one job, got {len(ids)}; usage: %cron show ID (or NAME)")
        return self._view(bridge, bridge.get(ids[0]).id)

    def _view(self, bridge: SchedulerFace, job_id: str) -> object:
        show_view = self._get_view()
        if show_view is None:  # no kernel comms (a test's stand-in): the job's log says the same
            return Text(render.log_text(bridge.get(job_id), 1))
        show_view(bridge, job_id)  # displayed with a display id (docs/live.md, "A saved notebook")
        return None

    def _edit(self, rest: str, cell: str | None) -> Text:
        bridge = self._bridge("edit")
        key, _, rest = split_word(rest)
        if not key or key.startswith("-"):
            raise UsageError(f"%cron edit: no job given; usage: %cron edit {edit_usage()}")
        schedule, code, opts = edit_options(rest)
        if cell is not None:
            if code is not None:
                raise UsageError("%%cron edit: the code is the cell body; leave out --code")
            code = cell
        if schedule is None and code is None and not opts:
            raise UsageError(f"%cron edit: nothing to change; usage: %cron edit {edit_usage()}")
        got = bridge.edit(key, schedule, code, **opts)
        return Text(_said(got, "job", bridge.now(), bridge.unsaved() if got.job.durable else None))

    def _list(self, rest: str) -> object:
        bridge = self._bridge("list")
        if rest:
            raise UsageError(f"%cron list takes no arguments; got {rest!r}")
        make_table = self._get_table()
        return make_table(bridge) if make_table is not None else columns.JobTable(bridge)

    def _ids(self, name: str, rest: str) -> list[str]:
        ids = list(dict.fromkeys(shell_words(rest)))  # `%cron delete a a` means a, once
        if not ids:
            raise UsageError(f"%cron {name}: no job given; usage: %cron {self.commands[name].usage}")
        return ids

    def _apply(self, name: str, rest: str, action: Callable[[str], CronJob], verb: str) -> Text:
        bridge = self._bridge(name)
        ids = self._ids(name, rest)
        for key in ids:  # check all first: a bad id changes nothing
            bridge.get(key)
        return Text("\n".join(f"{verb} {action(key).label}" for key in ids))

    def _delete(self, rest: str) -> Text:
        bridge = self._bridge("delete")
        if rest.strip() == "--all":
            jobs = bridge.jobs()
            for job in jobs:
                bridge.delete(job.id)
            return Text(f"deleted {len(jobs)} job(s)")
        ids = self._ids("delete", rest)
        jobs = list({job.id: job for job in map(bridge.get, ids)}.values())  # all first: a bad id changes nothing
        said = []
        for job in jobs:
            running = job.running
            bridge.delete(job.id)
            said.append(f"deleted {job.label}" + ("; its run still going was cancelled" if running else ""))
        return Text("\n".join(said))

    def _pause(self, rest: str) -> Text:
        return self._apply("pause", rest, self._bridge("pause").pause, "paused")

    def _resume(self, rest: str) -> Text:
        return self._apply("resume", rest, self._bridge("resume").resume, "resumed")

    def _run(self, rest: str) -> Text:
        bridge = self._bridge("run")
        ids = self._ids("run", rest)
        if len(ids) > 1:
            raise UsageError(f"%cron run takes one job, got {len(ids)}: {' '.join(ids)}; run them one by one")
        [key] = ids
        job = bridge.run_now(key)
        if bridge.stopping(job.id):
            return Text(f"interrupted {job.label}: paused unless the kernel is restarting; see %cron log {job.id}")
        if job.running:
            return Text(f"started {job.label} (async); its output goes to %cron log {job.id}")
        last = job.history[-1]
        return Text(f"ran {job.label}: {last.status} in {last.duration * 1000:.1f} ms; output in %cron log {job.id}")

    def _log(self, rest: str) -> Text:
        bridge = self._bridge("log")
        p = self._parser("log")
        p.add_argument("id")
        p.add_argument("-n", type=int, default=None)
        args = p.parse_args(shell_words(rest))
        if args.n is not None and not 1 <= args.n <= 10_000:
            raise UsageError(f"%cron log: -n must be between 1 and 10000, got {args.n}")
        job = bridge.find(args.id)
        if job is None:
            why = bridge.why_dropped(args.id)
            if why is not None:
                raise UsageError(f"job {args.id} has no log: {why}") from None
            job = bridge.get(args.id)  # raises the usual "no job" error
        return Text(render.log_text(job, args.n, bridge.output_so_far(job.id), bridge.after_run(job.id)))

    def _wait(self, rest: str) -> NoReturn:
        raise UsageError(
            "%cron wait must stand alone on a line at the top level of a cell, because it awaits the "
            "kernel's loop; inside functions use: await loopal_ipy.wait(ID, runs=N, timeout=S)"
        )

    def _next(self, rest: str) -> Text:
        schedule, quoted, rest = split_word(rest)
        if not quoted and schedule.lower() == "@every":
            duration, _, rest = split_word(rest)
            schedule = f"@every {duration}"
        p = self._parser("next")
        p.add_argument("-n", type=int, default=5)
        p.add_argument("--tz", default=None)
        p.add_argument("--from", dest="start", default=None)
        args = p.parse_args(shell_words(rest))
        if not schedule:
            raise UsageError('%cron next: no schedule given; usage: %cron next "0 9 * * MON-FRI" [-n 5]')
        if not 1 <= args.n <= 1000:
            raise UsageError(f"%cron next: -n must be between 1 and 1000, got {args.n}")
        tz = args.tz or self._default_tz()
        try:
            start = datetime.fromisoformat(args.start) if args.start else None
        except ValueError:
            raise UsageError(
                f"%cron next: --from {args.start!r} is not an ISO time; e.g. --from 2026-03-08T00:00"
            ) from None
        sched = parse_schedule(schedule, tz, anchor=None if start is None or start.tzinfo is None else start)
        times = next_fires(schedule, args.n, tz, start)
        return Text(render.next_text(sched, times))

    def _default_tz(self) -> str | None:
        bridge = self._get_bridge()
        return bridge.settings.timezone or None if bridge is not None else None

    def _session(self, rest: str) -> Text:
        """``%cron session [NAME] | --adopt OTHER``: parsed here, done by the bridge."""
        bridge = self._bridge("session")
        usage = "usage: %cron session [NAME] | --adopt OTHER_SESSION_ID"
        try:
            words = shell_words(rest)
        except InputError as e:
            raise UsageError(f"%cron session: {e}") from None
        if not words:
            return Text(bridge.describe_session())
        if words[0] == "--adopt":
            if len(words) != 2:
                raise UsageError(f"%cron session: --adopt takes one session id; {usage}")
            return Text(bridge.adopt_session(words[1]))
        if len(words) == 1 and not words[0].startswith("-"):
            return Text(bridge.switch_session(words[0]))
        raise UsageError(f"%cron session: unexpected {short(' '.join(words), 40)}; {usage}")

    def _export(self, rest: str) -> Text:
        bridge = self._bridge("export")
        p = self._parser("export")
        p.add_argument("id")
        p.add_argument("--to", choices=("jupyter-scheduler", "papermill"), default=None)
        p.add_argument("--dir", dest="directory", default=None)
        p.add_argument("--setup", choices=("notebook", "history", "none"), default="notebook")
        p.add_argument("--no-check", dest="check", action="store_false")
        args = p.parse_args(shell_words(rest))
        exported = bridge.export(args.id, to=args.to, directory=args.directory, setup=args.setup, check=args.check)
        return Text(str(exported))

    async def wait_line(self, args: str) -> Text:
        """What a top-level ``%cron wait ARGS`` line becomes (see wait_transformer)."""
        with refusals("wait", waits=True):
            key, runs, timeout = parse_wait(self._expand(args))
            bridge = self._bridge("wait")
            who = bridge.get(key).label if key else "jobs"
            await bridge.wait(key, runs, timeout)
        return Text(f"{who} ran {runs} more time(s)")

    def wait_line_blocking(self, args: str) -> Text:
        """What ``%cron wait ARGS`` becomes where the cell cannot await (see wait_transformer)."""
        with refusals("wait", waits=True):
            key, runs, timeout = parse_wait(self._expand(args))
            bridge = self._bridge("wait")
            who = bridge.get(key).label if key else "jobs"
            bridge.wait_blocking(key, runs, timeout)
        return Text(f"{who} ran {runs} more time(s)")

    def _expand(self, args: str) -> str:
        """``{name}`` and ``$name`` in a wait line, from the notebook's variables (papermill's parameters), as
        IPython expands other magics' lines; ``%cron create``'s CODE is never expanded (it is code)."""
        try:
            assert self.shell is not None  # a magic runs in its shell
            return str(DollarFormatter().vformat(args, args=[], kwargs=self.shell.user_ns))
        except Exception:  # an unknown name or a stray brace: the line as written, which parse_wait judges
            return args

    def can_await(self) -> bool:
        """A ``%cron wait`` transformed now may await: autoawait is on and no cell runs (a cell that
        runs is the one whose body is being transformed: ``%%time``, ``%%capture``, ``%time``)."""
        bridge = self._get_bridge()
        return bool(getattr(self.shell, "autoawait", True)) and (bridge is None or not bridge.cells)

    def _help(self, rest: str) -> Text:
        lines = ["%cron — cron inside this kernel. Subcommands:"]
        for c in self.commands.values():
            lines += wrapped(f"%cron {c.usage}", "  ", "        ")
            lines += wrapped(c.help, "      ", "      ")
        lines += wrapped(
            'SCHEDULE: "*/5 * * * *" (5-field cron), @hourly/@daily/@weekly/@monthly/@yearly, '
            '"@every 10s". Jobs fire only while no cell runs.',
            "",
            "  ",
        )
        return Text("\n".join(lines))
