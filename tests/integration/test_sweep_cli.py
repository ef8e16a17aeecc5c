"""``gancompress reproduce table2|granularity`` through subprocess on synthetic data (``--dry-run``): the results
JSON holds every cell with the sparsity asked for, the report has the paper's layout, resume re-runs only missing
cells, latency compares physically shrunk filter-pruned generators with the dense teacher, bad flags exit 2."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
from clirun import gancompress

run = partial(gancompress, timeout=600)  # the table2 sweep gets twice the default 300 s


@pytest.fixture(scope="module")
def table2(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    out = tmp_path_factory.mktemp("runs") / "table2"
    args = ["reproduce", "table2", "--dry-run", "--tasks", "dcgan", "--sparsities", "0.5,0.9", "--out", str(out)]
    # the run's own prune / method settings reach every cell (they were once silently replaced by the defaults)
    proc = run([*args, "--set", "prune.scope=global", "--set", "method.anchor=0.5"], env)
    assert proc.returncode == 0, proc.stderr
    assert "Table 2 (element sparsity)" in proc.stdout and "dense FID" in proc.stdout
    return out


def test_table2_cells_ratios_and_report(table2: Path) -> None:
    results = json.loads((table2 / "results.json").read_text())
    assert results["kind"] == "table2" and results["plan"]["tasks"] == ["dcgan"]
    task = results["tasks"]["dcgan"]
    assert task["teacher"]["metrics"]["fid"] > 0 and task["teacher"]["source"] == "trained"
    assert sorted(task["cells"]) == ["control@0/s0", "element@0.5/s0", "element@0.9/s0"]
    for key, cell in task["cells"].items():
        assert cell["achieved_sparsity"] == pytest.approx(cell["sparsity"], abs=0.01), key
        assert cell["metrics"]["fid"] > 0 and (table2 / cell["samples"]).is_file()
        assert (table2 / cell["run"] / "generator.safetensors").is_file()
        cfg = json.loads((table2 / cell["run"] / "config.json").read_text())
        assert (cfg["prune"]["scope"], cfg["method"]["anchor"]) == ("global", 0.5), key
        # the control (PAPER.md §7) is the teacher trained on unpruned with its plain GAN loss, same budget
        control = key.startswith("control")
        assert cfg["method"]["name"] == ("oneshot_finetune" if control else "self_supervised"), key
        assert cell["steps"] == task["cells"]["element@0.5/s0"]["steps"], key
    # the paper's ratio for DCGAN/MNIST at 50 %: 50.634 / 50.391 (PAPER.md §5)
    assert task["paper_ratios"]["0.5"] == [pytest.approx(50.634 / 50.391)]
    md = (table2 / "report.md").read_text()
    ratio = task["cells"]["element@0.5/s0"]["metrics"]["fid"] / task["teacher"]["metrics"]["fid"]
    assert f"({ratio:.3f}×) [1.005]" in md and "## Outcome" in md
    assert "--set prune.scope=global, method.anchor=0.5" in md  # the ratios are stated with their settings
    assert "dense control, same budget" in md and "Dry run:" in md  # the wiring only: no "meets" / "misses"
    assert "meets" not in md and "misses" not in md
    assert "<table>" in (table2 / "report.html").read_text()


def test_table2_resume_runs_only_missing_cells(table2: Path, env: dict[str, str]) -> None:
    results = json.loads((table2 / "results.json").read_text())
    before = results["tasks"]["dcgan"]["cells"]["element@0.9/s0"]["metrics"]["fid"]
    del results["tasks"]["dcgan"]["cells"]["element@0.9/s0"]
    (table2 / "results.json").write_text(json.dumps(results))
    proc = run(["reproduce", "table2", "--dry-run", "--out", str(table2), "--resume"], env)
    assert proc.returncode == 0, proc.stderr
    assert "1 cells to run" in proc.stderr and "teacher of" not in proc.stderr  # teacher kept, not retrained
    after = json.loads((table2 / "results.json").read_text())["tasks"]["dcgan"]["cells"]
    assert sorted(after) == ["control@0/s0", "element@0.5/s0", "element@0.9/s0"]
    assert after["element@0.9/s0"]["metrics"]["fid"] == pytest.approx(before, rel=1e-6)  # same seed, same cell
    proc = run(["report", str(table2)], env)
    assert proc.returncode == 0, proc.stderr


def test_granularity_sparsity_and_latency(tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "gran"
    args = ["reproduce", "granularity", "--dry-run", "--tasks", "dcgan", "--granularities", "element,filter,nm"]
    args += ["--sparsities", "0.5,0.9", "--latency-rounds", "1", "--jobs", "2"]  # cells in 2 worker processes
    proc = run([*args, "--out", str(out), "--json"], env)
    assert proc.returncode == 0, proc.stderr
    assert "running 5 cells on 2 worker processes" in proc.stderr
    results = json.loads(proc.stdout)
    cells = results["tasks"]["dcgan"]["cells"]
    # 90 % has no N:4 pattern, so it is skipped there; 50 % N:4 is 2:4
    assert sorted(cells) == ["element@0.5/s0", "element@0.9/s0", "filter@0.5/s0", "filter@0.9/s0", "nm:2:4@0.5/s0"]
    assert cells["nm:2:4@0.5/s0"]["achieved_sparsity"] == pytest.approx(0.5, abs=0.01)
    assert cells["element@0.9/s0"]["achieved_sparsity"] == pytest.approx(0.9, abs=0.01)
    # filter: the output layer stays dense, so the whole model is a little under the target
    assert 0.7 < cells["filter@0.9/s0"]["achieved_sparsity"] < 0.9
    lat = results["latency"]["dcgan"]
    stats = lat["stats"]
    assert stats["filter@0.9/s0"]["form"].startswith("physical")
    assert stats["filter@0.9/s0"]["params"] < stats["dense"]["params"] / 3  # channels really removed
    assert stats["element@0.9/s0"]["params"] == stats["dense"]["params"]  # masked, same shapes
    rows = {(r["model"], r["batch"]): r for r in lat["rows"]}
    assert rows["filter@0.9/s0", 1]["median_ms"] > 0 and rows["filter@0.9/s0", 1]["ideal_mac_ratio"] > 3
    md = (out / "report.md").read_text()
    assert "| N:4 |" in md and "speed-up b1 / b16" in md


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tasks", "nope"], "unknown task 'nope'; valid tasks: dcgan"),
        (["--sparsities", "0.5,1.5"], "--sparsities expects comma-separated numbers in (0, 1)"),
        (["--teacher", "runs/x"], "sweeps take task=RUN_DIR pairs"),
        (["--jobs", "0"], "--jobs must be >= 1"),
        (["--granularities", "blocks"], "unknown granularity 'blocks'"),
        (["--granularities", "nm", "--set", "prune.scope=global"], "nm:3:4 sparsity is fixed per group"),
        (["--set", "prune.scope=wide"], "unknown prune.scope 'wide'"),
    ],
)
def test_bad_flags_exit_2_and_write_nothing(tmp_path: Path, capsys, extra: list[str], message: str) -> None:
    """In-process: the flags are refused before any data or model is touched (the CLI tests above use subprocesses)."""
    from gancompress.cli import main

    out = tmp_path / "bad"
    assert main(["reproduce", "granularity", "--dry-run", "--tasks", "dcgan", *extra, "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]  # one actionable line, no traceback
    assert not out.exists()
