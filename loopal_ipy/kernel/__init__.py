"""The live kernel: where jobs meet ipykernel.

Busy depth in the main shell and subshells (``busy``), output routing at every
level (``buffer``, ``capture``, ``fdcapture``, ``nested``), stopping stuck
code and calls that would end the kernel (``stopper``, ``exits``), running one
job (``runner``), the durable session (``durable``, ``saving``), the one timer
and its decisions acted on (``bridge``, ``activity``, ``shown``), the public
API (``commands``, ``waiting``, ``hooks``), the ``Cron`` configurable
(``config``), the typed face the surfaces see (``face``), and the export to
engines (``graduate``). It may import the core, the store, IPython, ipykernel
and traitlets — never the surfaces.
"""
