"""``gancompress reproduce table1|table2|granularity`` through subprocess on tiny fake data.

table1: 3 methods × 2 seeds, resume, report, errors — one run is shared by the module (the domain classifier is trained
once into a module cache; 16 px images keep it short); the resume test drops one finished cell from results.json and
checks only that cell is re-run. table2 / granularity (``--dry-run``): the results JSON holds every cell with the
sparsity asked for, the report has the paper's layout, resume re-runs only missing cells, latency compares physically
shrunk filter-pruned generators with the dense teacher, bad flags exit 2.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest

from tests.clirun import gancompress

METHODS = ("dense", "self_supervised", "oneshot_finetune")


TINY = ["--dry-run", "--set", "data.image_size=16", "--teacher-steps", "6", "--seeds", "2", "--budget-fractions", "0.2"]


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("runs") / "table1"
    proc = gancompress(
        ["reproduce", "table1", *TINY, "--methods", ",".join(METHODS), "--out", str(out), "--json", "-q"], env
    )
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout)


def test_results_json_has_every_cell(table_run: tuple[Path, dict]) -> None:
    out, payload = table_run
    results = json.loads((out / "results.json").read_text())
    assert results["kind"] == "table1" and payload["kind"] == "table1"
    names = [r["name"] for r in results["models"]]
    assert names == [*METHODS, "dense_continued"]  # the same-budget control row is on by default
    assert [r["row"] for r in results["models"]] == ["a", "b", "d", "a+"]
    teacher = results["teacher"]
    assert teacher["steps"] == 6 and teacher["metrics"]["fid"] > 0 and teacher["curves"]["g/loss"]
    for row in results["models"]:
        assert sorted(row["cells"]) == ["0", "1"], row["name"]
        assert row["metrics"]["fid"] > 0 and "fid_ci95" in row["metrics"]
        assert row["flag"] in ("ok", "artifacts", "off_target", "collapse")
        for cell in row["cells"].values():
            assert {"fid", "kid", "precision", "recall", "class_coverage", "diversity_ratio"} <= set(cell["metrics"])
            assert cell["seconds"] > 0 and (out / cell["samples"]).is_file()
            assert isinstance(cell["false_positive"]["false_positive"], bool)
            assert cell["verdict"]["flag"] in ("ok", "artifacts", "off_target", "collapse")
    by_name = {r["name"]: r for r in results["models"]}
    # budgets (docs/method.md §4): random-init rows the teacher's 6 steps, rows from G_O 20 % of them (ceil → 2)
    assert {c["steps"] for c in by_name["dense"]["cells"].values()} == {6}
    assert {c["steps"] for c in by_name["self_supervised"]["cells"].values()} == {2}
    assert by_name["dense"]["cells"]["0"]["run"] == teacher["path"]  # row a's first seed IS the teacher
    assert (out / "cells" / "dense" / "seed1" / "generator.safetensors").is_file()  # another teacher, seed 1
    assert by_name["self_supervised"]["metrics"]["sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert results["timing"]["wall_seconds"] > 0
    md = (out / "report.md").read_text()
    assert "| row | method | budget | seeds |" in md and "## Outcome" in md and "self_supervised" in md
    # a dry run checks the wiring only: no outcome, verdict or known-bad table drawn from its numbers
    assert "Dry run:" in md and "beats" not in md and "does NOT meet" not in md and "Sanity checks" not in md
    assert set(results["sanity"]) >= {"few_images", "noise"} and results["dry_run"] is True
    assert (out / "report.html").is_file() and (out / "curves" / "self_supervised_losses.svg").is_file()


def test_default_budgets_are_the_papers_10_percent_and_20(
    tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]
) -> None:
    out = tmp_path_factory.mktemp("runs") / "budgets"
    tiny = ["--dry-run", "--set", "data.image_size=16", "--teacher-steps", "10", "--seeds", "1"]
    proc = gancompress(["reproduce", "table1", *tiny, "--methods", "dense,self_supervised", "--out", str(out)], env)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    rows = {r["name"]: r for r in results["models"]}
    assert list(rows) == ["dense", "self_supervised@10%", "self_supervised@20%", "dense_continued@10%",
                          "dense_continued@20%"]  # fmt: skip
    assert [c["steps"] for c in rows["self_supervised@10%"]["cells"].values()] == [1]  # ceil(0.1 × 10)
    assert [c["steps"] for c in rows["self_supervised@20%"]["cells"].values()] == [2]
    assert rows["dense"]["budget"] == "full" and results["plan"]["budgets"] == [0.1, 0.2]
    md = (out / "report.md").read_text()
    assert "| b | self_supervised@10% | 10% |" in md and "| a+ | dense_continued@20% | 20% |" in md


def test_resume_skips_finished_cells(table_run: tuple[Path, dict], env: dict[str, str]) -> None:
    out, _ = table_run
    results = json.loads((out / "results.json").read_text())
    before = {r["name"]: {s: c["metrics"]["fid"] for s, c in r["cells"].items()} for r in results["models"]}
    ss = next(r for r in results["models"] if r["name"] == "self_supervised")
    del ss["cells"]["1"]  # as if the run had crashed during this cell
    (out / "results.json").write_text(json.dumps(results))
    proc = gancompress(
        ["reproduce", "table1", *TINY, "--methods", ",".join(METHODS), "--out", str(out), "--resume"], env
    )
    assert proc.returncode == 0, proc.stderr
    assert "8 cells planned, 1 to run (7 finished)" in proc.stderr
    assert "[1/1] self_supervised seed 1" in proc.stderr and "teacher reloaded" in proc.stderr
    after = json.loads((out / "results.json").read_text())
    got = {r["name"]: {s: c["metrics"]["fid"] for s, c in r["cells"].items()} for r in after["models"]}
    assert got == before  # the re-run cell is deterministic; every other cell was kept as it was


def test_jobs_runs_cells_in_worker_processes(table_run: tuple[Path, dict], env: dict[str, str]) -> None:
    out, _ = table_run
    results = json.loads((out / "results.json").read_text())
    before = {r["name"]: {s: c["metrics"]["fid"] for s, c in r["cells"].items()} for r in results["models"]}
    for row in results["models"]:
        if row["name"] in ("self_supervised", "oneshot_finetune"):
            del row["cells"]["1"]
    (out / "results.json").write_text(json.dumps(results))
    args = ["reproduce", "table1", *TINY, "--methods", ",".join(METHODS), "--out", str(out), "--resume", "--jobs", "2"]
    proc = gancompress(args, env)
    assert proc.returncode == 0, proc.stderr
    assert "running 2 cells on 2 worker processes" in proc.stderr and "[2/2] done" in proc.stderr
    after = json.loads((out / "results.json").read_text())
    assert [r["name"] for r in after["models"]] == [r["name"] for r in results["models"]]  # plan order kept
    got = {r["name"]: {s: c["metrics"]["fid"] for s, c in r["cells"].items()} for r in after["models"]}
    for name, cells in before.items():  # same seeds in a worker (one thread) → the same cells, to rounding
        assert got[name] == pytest.approx(cells, rel=1e-3), name
    assert after["timing"]["jobs"] == 2 and after["timing"]["cpu_seconds"] > results["timing"]["cpu_seconds"]
    bad = gancompress(["reproduce", "table1", *TINY, "--out", str(out.parent / "bad"), "--jobs", "0"], env)
    assert bad.returncode == 2 and "--jobs must be >= 1" in bad.stderr and not (out.parent / "bad").exists()


def test_report_command_and_refusals(table_run: tuple[Path, dict], env: dict[str, str]) -> None:
    out, _ = table_run
    (out / "report.md").unlink()
    proc = gancompress(["report", str(out)], env)
    assert proc.returncode == 0, proc.stderr
    assert "| b | self_supervised | 20% | 2 |" in (out / "report.md").read_text()
    proc = gancompress(["reproduce", "table1", *TINY, "--out", str(out)], env)  # exists, no --resume
    assert proc.returncode == 2 and "already exists" in proc.stderr
    proc = gancompress(["reproduce", "table1", "--dry-run", "--methods", "dense,bogus", "--variants", "sample"], env)
    assert proc.returncode == 2 and "unknown Table 1 method 'bogus'" in proc.stderr  # before anything is written


def test_given_teacher_is_row_a(table_run: tuple[Path, dict], tmp_path: Path, env: dict[str, str]) -> None:
    out, _ = table_run
    teacher = out / "teacher"
    args = ["--teacher", str(teacher), "--methods", "a,b", "--seeds", "1", "--no-control", "--num-samples", "64"]
    args += ["--budget-fractions", "0.2"]
    proc = gancompress(["reproduce", "table1", *args, "--out", str(tmp_path / "t"), "-q"], env)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "t" / "results.json").read_text())
    assert results["teacher"]["source"] == "given" and results["teacher"]["steps"] == 6
    assert results["config"]["data"]["name"] == "fake" and results["config"]["data"]["image_size"] == 16
    assert results["teacher"]["curves"]["g/loss"]  # read back from the given run's metrics.jsonl
    dense, ss = results["models"]
    assert dense["cells"]["0"]["run"] == str(teacher.resolve()) and ss["cells"]["0"]["steps"] == 2


def test_table1_on_a_second_family_uses_its_task_config(tmp_path: Path, env: dict[str, str]) -> None:
    """`--family stargan` takes the StarGAN task (3 domains, WGAN-GP, D at twice G's rate)."""
    out = tmp_path / "stargan"
    args = ["reproduce", "table1", "--family", "stargan", "--dry-run", "--teacher-steps", "4", "--seeds", "1"]
    proc = gancompress(
        [*args, "--methods", "dense,self_supervised,adversarial_distill", "--no-control", "--out", str(out)], env
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    cfg = results["config"]
    assert cfg["model"]["family"] == "stargan" and cfg["data"]["classes"] == [0, 1, 2]
    assert cfg["train"]["lr_d"] == 2 * cfg["train"]["lr_g"]
    assert [r["row"] for r in results["models"]] == ["a", "b", "b", "j"]  # b at 10 % and 20 %
    for row in results["models"]:
        cell = row["cells"]["0"]["metrics"]
        assert cell["fid"] > 0 and 0.0 <= cell["target_accuracy"] <= 1.0, row["name"]
        assert cell["reference_mode"] == "per_target" and "fid_per_target" in cell, row["name"]
    # copying the input is scored (and must be flagged) beside the real rows
    assert results["sanity"]["input_copy"]["verdict"]["flag"] != "ok"


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
        # the control (docs/method.md §7) is the teacher trained on unpruned with its plain GAN loss, same budget
        control = key.startswith("control")
        assert cfg["method"]["name"] == ("oneshot_finetune" if control else "self_supervised"), key
        assert cell["steps"] == task["cells"]["element@0.5/s0"]["steps"], key
    # the paper's ratio for DCGAN/MNIST at 50 %: 50.634 / 50.391 (docs/method.md §5)
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
    from gancompress.cli.main import main

    out = tmp_path / "bad"
    assert main(["reproduce", "granularity", "--dry-run", "--tasks", "dcgan", *extra, "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]  # one actionable line, no traceback
    assert not out.exists()


def test_structured_rows_at_mac_targets_with_latency(tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "structured"
    args = ["reproduce", "structured", "--dry-run", "--tasks", "dcgan", "--mac-targets", "0.25"]
    args += ["--rows", "ours,row_c", "--latency-rounds", "1"]
    proc = run([*args, "--out", str(out), "--json"], env)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    cells = results["tasks"]["dcgan"]["cells"]
    assert sorted(cells) == ["control@0/s0", "ours@0.25/s0", "row_c@0.25/s0"]
    ours, row_c = cells["ours@0.25/s0"], cells["row_c@0.25/s0"]
    # the same architecture: row c is the channel-pruned widths trained from scratch
    assert ours["prune_granularity"] == "channel" and row_c["prune_granularity"] == "none"
    assert ours["params"] == row_c["params"] < ours["params_teacher"] / 2
    assert ours["macs_fraction"] == pytest.approx(row_c["macs_fraction"]) and ours["mac_reduction"] > 3
    lat = results["latency"]["dcgan"]
    assert lat["stats"]["ours@0.25/s0"]["form"].startswith("physical")
    timed = {(r["model"], r["backend"], r["batch"], r["threads"]) for r in lat["rows"] if r.get("median_ms")}
    assert ("ours@0.25/s0", "eager", 16, 2) in timed and ("row_c@0.25/s0", "eager", 1, 1) in timed
    md = (out / "report.md").read_text()
    assert "quality and measured speed at MAC targets" in md and "| 4× (0.25) | ours |" in md
    assert (out / "quality_vs_speed_dcgan.svg").is_file()
    (out / "report.md").unlink()  # `gancompress report` rebuilds a structured study's report from its results.json
    again = run(["report", str(out)], env)
    assert again.returncode == 0, again.stderr
    assert (out / "report.md").read_text() == md
