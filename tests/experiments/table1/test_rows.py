"""experiments/table1/rows.py: the Table 1 constants match the registered methods; rows selected by id or letter."""

from __future__ import annotations

import importlib

import pytest

from gancompress.errors import UserError
from gancompress.experiments.table1.rows import RANDOM_INIT_ROWS, TABLE1, select_rows
from gancompress.methods import METHODS

# --------------------------------------------------------------------------------------------- Table 1 constants


def test_table1_rows_match_the_registered_methods() -> None:
    assert len(TABLE1) == 15 and len({r.method for r in TABLE1}) == 15
    for r in TABLE1:
        cls = METHODS.get(r.method)
        # the letter lives here only (Method.row is gone); the method's module docstring names the same row
        assert f"row {r.row} — ``{r.method}``" in importlib.import_module(cls.__module__).__doc__, r.method
        # docs/method.md §4: rows from random init get the teacher's full budget, rows from G_O the compression budget
        assert (cls.budget == "full") == (r.row in RANDOM_INIT_ROWS), r.method
    paper = {r.row: r.paper_fid for r in TABLE1}
    assert paper["a"] == 6.113 and paper["b"] == 6.929 and paper["c′"] is None and paper["l"] == 194.026


def test_select_rows_by_id_or_letter_in_paper_order() -> None:
    assert [r.row for r in select_rows(["n", "self_supervised", "c'", "a"])] == ["a", "b", "c′", "n"]
    assert len(select_rows(None)) == 15
    with pytest.raises(UserError, match="valid values: dense"):
        select_rows(["nope"])
