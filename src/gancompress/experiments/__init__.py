"""Paper-reproduction experiments: they import the library (:mod:`gancompress.api` and below), never the reverse.

- :mod:`~gancompress.experiments.demo` — ``gancompress demo`` / ``make demo``.
- :mod:`gancompress.experiments.table1` — ``reproduce table1``; :mod:`gancompress.experiments.sweeps` —
  ``reproduce table2|granularity``.
- :mod:`~gancompress.experiments.tasks` (Table 2 tasks), :mod:`~gancompress.experiments.variants`
  (self_supervised variants), :mod:`~gancompress.experiments.verdict` and :mod:`~gancompress.experiments.known_bad`
  (quality verdicts and their calibration), :mod:`~gancompress.experiments.protocol` (statements every report
  carries), :mod:`~gancompress.experiments.cellpool` (worker processes), :mod:`~gancompress.experiments.same_quality`
  (teacher beside student), :mod:`~gancompress.experiments.run_report` (the report of a single run).

Importing this package registers every experiment's report renderer in
:data:`gancompress.report.render.RENDERERS` (what ``gancompress report`` dispatches on).
"""

from gancompress.experiments import run_report  # noqa: F401  (registers the "run" renderer)
from gancompress.experiments.sweeps import report as sweeps_report  # noqa: F401  ("table2", "granularity")
from gancompress.experiments.table1 import report as table1_report  # noqa: F401  ("table1")
