"""Sphinx configuration of loopal_ipy's user guide (MyST Markdown pages and the shipped notebooks,
executed at build time). Build: ``bash scripts/docs.sh`` (warnings are errors)."""

from __future__ import annotations

project = "loopal_ipy"
author = "loopal_ipy developers"
copyright = "2026, loopal_ipy developers"
extensions = ["myst_nb"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "alabaster"
html_static_path: list[str] = []
html_title = "loopal_ipy"
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
suppress_warnings = ["myst.header"]

# The shipped notebooks are pages, run at every build: a notebook that no longer runs fails the build.
nb_execution_mode = "force"
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# Offline, a page cannot load the widget JavaScript: a table shows its text/html snapshot instead of an
# empty widget view (None: this builder never renders the widget view).
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
