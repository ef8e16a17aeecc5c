"""experiments/table1/run.py and config.py: profiles and the cell plan."""

from __future__ import annotations

from gancompress.experiments.table1.results import CONTROL_NAME
from gancompress.experiments.table1.run import PROFILES, plan_cells

# --------------------------------------------------------------------------------------------- Table 1 constants


def test_profiles_and_cell_plan() -> None:
    assert PROFILES["full"].teacher_steps == 3000 and PROFILES["full"].num_samples == 2000
    # the paper's 10 % beside ours in every profile (pre-registered protocol, docs/method.md §7)
    assert PROFILES["full"].budget_fractions == PROFILES["quick"].budget_fractions == (0.1, 0.2)
    assert PROFILES["quick"].seeds == 1
    cells = plan_cells(["dense", "lit"], ["sample"], [0, 1], control=True)
    names = [c.name for c in cells]
    assert names == ["dense", "lit", "self_supervised[sample]", CONTROL_NAME] * 2  # seed-major
    assert [c.seed for c in cells] == [0] * 4 + [1] * 4
    assert len(plan_cells(["dense"], [], [0], control=False)) == 1
    # several budgets: rows from G_O (and the control) once per budget, rows from random init once
    cells = plan_cells(["dense", "agp_scratch", "lit"], [], [0], control=True, budgets=[0.1, 0.2])
    assert [(c.name, c.budget) for c in cells] == [
        ("dense", None), ("agp_scratch", None), ("lit@10%", 0.1), ("lit@20%", 0.2),
        (f"{CONTROL_NAME}@10%", 0.1), (f"{CONTROL_NAME}@20%", 0.2),
    ]  # fmt: skip
    one = plan_cells(["lit"], [], [0], control=False, budgets=[0.1])
    assert [(c.name, c.budget) for c in one] == [("lit", 0.1)]  # one budget: names as before
