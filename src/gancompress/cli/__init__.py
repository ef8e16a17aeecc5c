"""The ``gancompress`` command line (console script ``gancompress.cli.main:main``; ``python -m gancompress``).

- :mod:`~gancompress.cli.main` — the parser and :func:`main` (exit codes, error lines, threads, output guard).
- one module per subcommand, each ``add_parser(subparsers)`` + ``run(args)``: ``train``, ``prune``, ``compress``,
  ``evaluate``, ``report``, ``demo``, ``benchmark``, ``export``, ``reproduce``.
- shared: :mod:`~gancompress.cli.flags` (flags, output), :mod:`~gancompress.cli.runs` (run directories),
  :mod:`~gancompress.cli.teacher` (where the GAN comes from), :mod:`~gancompress.cli.deployment` (benchmark / export),
  :mod:`~gancompress.cli.outguard` (outputs never overwrite inputs), :mod:`~gancompress.cli.resume` (``--resume``).
"""

# Nothing is imported here: ``cli.main`` imports every subcommand module of this package, so re-exporting ``main``
# from the package would make the package and its own ``main`` import each other.
