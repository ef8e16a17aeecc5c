"""Reports: results JSON → ``report.md`` + ``report.html``, with dependency-free SVG charts and image grids.

- :mod:`~gancompress.report.render` — the generic report, tables, :func:`regenerate` and the ``RENDERERS``
  experiments register their own layouts in.
- :mod:`~gancompress.report.html` — style sheet, scrolling tables, readable headers, embedded images.
- :mod:`~gancompress.report.svgchart`, :mod:`~gancompress.report.imagegrid`, :mod:`~gancompress.report.formatting`.
"""
