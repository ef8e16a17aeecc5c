"""``gancompress reproduce table2|granularity``: self_supervised over tasks × granularities × sparsities.

- :mod:`~gancompress.experiments.sweeps.sweep` — one sweep: teachers per task, one compression run per point.
- :mod:`~gancompress.experiments.sweeps.run` — plan, resume, worker processes, latency, report.
- :mod:`~gancompress.experiments.sweeps.latency` — measured CPU latency next to quality.
- :mod:`~gancompress.experiments.sweeps.report` — Table 2 / granularity reports from results.json.
"""
