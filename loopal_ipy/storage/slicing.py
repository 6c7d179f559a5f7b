"""An export's setup is what the job's code needs (docs/export.md): a backward slice of the notebook.

A notebook holds far more than a job needs: checks (``assert ticks >= 3``),
waits, plots, cells that drive loopal_ipy — and names bound from loopal_ipy
objects (``sched = loopal_ipy.get_scheduler()``, then ``off = sched.on(...)``),
which a standalone run cannot have. So the setup keeps, of the code cells' top-
level statements, those that bind a name the job reads, then those that bind a
name *they* read, and so on back; an ``assert`` never; ``%matplotlib``/``%config``
lines always (they set up how code runs, not what it sees). A statement that
mutates a name (``seen.append(x)``, ``d[k] = v``) counts as binding it.

Pure: no IPython. Over-inclusive where it must guess (every name a statement
mentions counts as read), because a missing definition fails the run, and the
check run (``--check``) says so.
"""

from __future__ import annotations

import ast
import builtins
import re
import warnings
from dataclasses import dataclass, field

_KEEP_MAGIC = re.compile(r"^\s*%(?:matplotlib|config)\b")
_OTHER_IPYTHON = re.compile(r"^\s*(?:[%!]|\w+\s*=\s*[%!])")
_BUILTINS = frozenset(dir(builtins))
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class _Statement:
    cell: int
    text: str
    binds: set[str] = field(default_factory=set)
    reads: set[str] = field(default_factory=set)
    always: bool = False


def needed_setup(cells: list[str], job_code: str) -> list[str]:
    """The setup cells for ``job_code``: each kept statement in its cell, in order; empty cells gone."""
    statements = [s for i, cell in enumerate(cells) for s in _statements(i, cell)]
    needed = _reads_of(job_code)
    keep: set[int] = set()
    for index in range(len(statements) - 1, -1, -1):
        statement = statements[index]
        if statement.always or statement.binds & needed:
            keep.add(index)
            needed |= statement.reads
    out: dict[int, list[str]] = {}
    for index in sorted(keep):
        out.setdefault(statements[index].cell, []).append(statements[index].text)
    return ["\n".join(texts) for _, texts in sorted(out.items())]


def _quiet_parse(text: str) -> ast.Module:
    """ast.parse without SyntaxWarnings ("invalid decimal literal"): a notebook's cell is not ours to lint."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        return ast.parse(text)


def _reads_of(code: str) -> set[str]:
    try:
        tree = _quiet_parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # IPython syntax (%run x): its words
        return set(_IDENT.findall(code)) - _BUILTINS
    return _names(tree) - _BUILTINS


def _statements(cell: int, source: str) -> list[_Statement]:
    """A cell's top-level statements; IPython lines stand alone (kept if they set up how code runs)."""
    out: list[_Statement] = []
    python: list[str] = []
    for line in source.splitlines():
        if _OTHER_IPYTHON.match(line) and not line.startswith((" ", "\t")):
            out.extend(_parse(cell, "\n".join(python)))
            python = []
            if _KEEP_MAGIC.match(line):
                out.append(_Statement(cell, line, always=True))
            continue
        python.append(line)
    out.extend(_parse(cell, "\n".join(python)))
    return out


def _parse(cell: int, text: str) -> list[_Statement]:
    if not text.strip():
        return []
    try:
        tree = _quiet_parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # not Python we can read: none of it
        return []
    lines = text.splitlines()
    out = []
    for node in tree.body:
        if isinstance(node, ast.Assert):
            continue  # a check of the notebook's run, never the job's setup
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        source = "\n".join(lines[start - 1 : node.end_lineno or node.lineno])
        out.append(_Statement(cell, source, _binds(node), _names(node) - _BUILTINS))
    return out


def _binds(node: ast.stmt) -> set[str]:
    """Top-level names a statement binds or changes."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
    targets: list[ast.AST] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, ast.AugAssign | ast.AnnAssign):
        targets = [node.target]
    elif isinstance(node, ast.For | ast.AsyncFor):
        targets = [node.target, *node.body]
    elif isinstance(node, ast.With | ast.AsyncWith):
        targets = [item.optional_vars for item in node.items if item.optional_vars is not None] + list(node.body)
    elif isinstance(node, ast.If | ast.Try | ast.While):
        return set().union(*(_binds(child) for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt)))
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        targets = [node.value.func]  # seen.append(x): changes seen
    elif isinstance(node, ast.Delete):
        targets = list(node.targets)
    bound: set[str] = set()
    for target in targets:
        if isinstance(target, ast.stmt):
            bound |= _binds(target)
        else:
            root = _root(target)
            if root is not None:
                bound.add(root)
            bound |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return bound


def _root(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Starred):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
