"""``gancompress reproduce table1``: the paper's Table 1 rows × seeds through the one loop, one evaluator, a report.

- :mod:`~gancompress.experiments.table1.rows` — Table 1 as data (row letters, method ids, the paper's FIDs).
- :mod:`~gancompress.experiments.table1.config` — profiles, budgets, the resolved run config.
- :mod:`~gancompress.experiments.table1.run` — the job: one teacher, every (row, seed) cell, results.json.
- :mod:`~gancompress.experiments.table1.results` — the results.json schema and its derived fields.
- :mod:`~gancompress.experiments.table1.outcome` / :mod:`~gancompress.experiments.table1.report` — table, reading,
  report.md / report.html.
"""
