"""The surfaces: what users see and type.

``%cron`` and its arguments (``magics``, ``magicargs``), jobs in words
(``render``), the table's columns (``columns``), the live table and its parts
(``widget``, ``tableparts``, ``cells``, ``logview``), a job's live view (``view``), the lifetimes both share
(``lifetime``) and frontend notifications (``alerts``). They see the kernel
through ``kernel.face.SchedulerFace`` and may import every lower layer and
ipywidgets; the magics, the table and the views do not import each other.
"""
