"""The core: schedules, jobs and the scheduler's decisions, as pure code.

Cron fields and their Vixie-exact walk (``cronfields``, ``schedule``), the job
model and its runs (``job``), what happened (``events``), the limits every job
keeps (``limits``) and the decisions — what is due, what coalesces, what
expires (``scheduler``) — driven by an injected clock (``clock``). It imports
only the standard library, zoneinfo and cron-descriptor: no IPython, no files.
A job's state changes here and nowhere else.
"""
