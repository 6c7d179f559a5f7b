"""The durable store: files, with no IPython.

Atomic writes (``atomic``), session ids and folders (``session``), the owner's
lock (``lock``), the per-fire journal (``journal``), the rules a load follows
and the reading of a store (``loadrules``, ``storeread``), the writing of one
(``store``), and what an export builds (``slicing``, ``export``). It may import
the core and filelock, never IPython, ipykernel, ipywidgets or traitlets.
"""
