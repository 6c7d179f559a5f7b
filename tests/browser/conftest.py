"""The JupyterLab / Notebook 7 server fixture of test_lab.py, for every browser test module."""

from test_lab import lab  # noqa: F401
