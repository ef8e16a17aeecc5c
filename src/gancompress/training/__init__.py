"""Training: THE loop every method runs through (teacher and compression), its resumable state, multi-process
(``torchrun``) support, discriminator-health diagnostics, signals and seeding.

- :mod:`~gancompress.training.loop` — :func:`train`: pruner step → D step → G step → masks → log → checkpoint.
- :mod:`~gancompress.training.state` — save / restore everything the next step depends on.
- :mod:`~gancompress.training.distributed` — process group, gradient averaging, mask agreement, rank-0 writing.
- :mod:`~gancompress.training.diagnostics` — D's health (App. A.1) and the collapse monitor.
- :mod:`~gancompress.training.stop_signal`, :mod:`~gancompress.training.seeding` — SIGINT / SIGTERM, RNG states.
"""
