"""experiments/convergence.py: the stop / continue decision at 5 % and the rounds it records (fake FIDs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gancompress.experiments.convergence import checkpoint_step, converge, converged, improvement, ratio_interval


def fake(fids: dict[int, tuple[float, float]]) -> tuple[list[int], object, object]:
    """A ``train_to`` that records its targets and a ``score`` that returns the given (teacher, control) FIDs."""
    trained: list[int] = []
    return trained, trained.append, lambda steps: fids[steps]


def test_the_decision_is_a_5_percent_fid_gain_of_the_control() -> None:
    assert improvement(20.0, 18.0) == pytest.approx(0.1)
    assert converged(20.0, 19.2)  # 4 %: converged
    assert not converged(20.0, 19.0)  # exactly 5 %: continue
    assert converged(20.0, 21.0)  # the control is worse: converged
    assert not converged(20.0, 19.5, threshold=0.01)


def test_converge_stops_at_the_first_round_below_the_threshold() -> None:
    trained, train_to, score = fake({1000: (30.0, 25.0), 1500: (25.0, 24.5), 2000: (20.0, 10.0)})
    rounds = converge(train_to, score, steps=1000, extend=500)
    assert trained == [1000, 1500]
    assert [(r["round"], r["steps"], r["converged"]) for r in rounds] == [(1, 1000, False), (2, 1500, True)]
    assert rounds[0]["ratio"] == pytest.approx(25 / 30) and rounds[0]["improvement"] == pytest.approx(5 / 30)
    assert rounds[1]["teacher_fid"] == 25.0 and rounds[1]["control_fid"] == 24.5


def test_converge_gives_up_after_max_rounds_and_records_each() -> None:
    seen: list[int] = []
    trained, train_to, score = fake({s: (10.0, 8.0) for s in (100, 150, 200)})
    rounds = converge(train_to, score, steps=100, extend=50, max_rounds=3, on_round=lambda rs: seen.append(len(rs)))
    assert trained == [100, 150, 200] and seen == [1, 2, 3]
    assert not any(r["converged"] for r in rounds)


def test_converge_continues_after_recorded_rounds_and_keeps_extra_scores() -> None:
    done = [{"round": 1, "steps": 100, "teacher_fid": 10.0, "control_fid": 8.0, "converged": False}]
    trained, train_to, _ = fake({})
    rounds = converge(
        train_to, lambda s: {"teacher_fid": 9.0, "control_fid": 8.9, "teacher_kid": 0.01}, steps=100, extend=50,
        rounds=done,
    )  # fmt: skip
    assert trained == [150] and [r["steps"] for r in rounds] == [100, 150]
    assert rounds[-1]["converged"] and rounds[-1]["teacher_kid"] == 0.01
    assert converge(train_to, lambda s: (1.0, 1.0), steps=100, extend=50, rounds=rounds) == rounds  # nothing left
    assert trained == [150]


def test_the_ratio_interval_is_the_student_t_interval_of_the_controls_mean() -> None:
    # the EMA teacher's first round (docs/results.md "An EMA teacher"): mean 1.442, sd 0.2215, t(0.975, 2) = 4.303
    lo, hi = ratio_interval(1.652, [1.276, 1.694, 1.356])
    half = 4.3027 * 0.22153 / 3**0.5
    assert lo == pytest.approx((1.442 - half) / 1.652, abs=1e-3)
    assert hi == pytest.approx((1.442 + half) / 1.652, abs=1e-3)
    assert ratio_interval(2.0, [1.0]) is None and ratio_interval(2.0, []) is None


def test_a_round_says_whether_the_controls_noise_made_the_decision(caplog: pytest.LogCaptureFixture) -> None:
    noisy = {"teacher_fid": 10.0, "control_fid": 9.0, "control_fids": [7.0, 9.0, 11.0]}
    tight = {"teacher_fid": 10.0, "control_fid": 9.0, "control_fids": [8.9, 9.0, 9.1]}
    (r,) = converge(lambda s: None, lambda s: noisy, steps=10, extend=5, max_rounds=1)
    assert not r["converged"] and r["resolved"] is False and r["ratio_ci95"][0] < 0.95 < r["ratio_ci95"][1]
    assert "made by the controls' noise" in caplog.text
    (r,) = converge(lambda s: None, lambda s: tight, steps=10, extend=5, max_rounds=1)
    assert not r["converged"] and r["resolved"] is True and r["ratio_ci95"][1] < 0.95
    (r,) = converge(lambda s: None, lambda s: (10.0, 9.0), steps=10, extend=5, max_rounds=1)
    assert "resolved" not in r and "ratio_ci95" not in r  # one control: no interval to judge


def test_checkpoint_step_reads_the_directory_name() -> None:
    assert checkpoint_step(Path("run/checkpoints/step_1500")) == 1500
    assert checkpoint_step(None) == 0


def test_a_round_trains_one_control_per_seed_and_decides_on_their_mean(tmp_path: Path) -> None:
    """The real train → score path at toy size: two controls with their own seeds and run directories; the recorded
    control FID is their mean (one control snapshot is too noisy to stop a GAN teacher on)."""
    from gancompress.experiments.convergence import TeacherConvergence, run_convergence
    from gancompress.files import read_json

    tiny = ["data.name=fake", "data.limit=256", "train.steps=4", "eval.num_samples=32", "model.ngf=4", "model.ndf=4",
            "train.batch_size=8"]  # fmt: skip
    job = TeacherConvergence("dcgan", tmp_path / "w", profile="quick", overrides=tiny, control_seeds=2)
    record = run_convergence(job, tmp_path / "r.json", extend=2, max_rounds=1)
    (r,) = record["rounds"]
    assert record["control_seeds"] == 2 and r["control_seeds"] == [0, 1]
    assert r["control_fid"] == pytest.approx(sum(r["control_fids"]) / 2)
    assert r["control_fids"][0] != r["control_fids"][1]  # different seeds, different controls
    assert [Path(p).name for p in r["control_runs"]] == ["control_4", "control_4_s1"]
    assert [read_json(Path(p) / "config.json")["seed"] for p in r["control_runs"]] == [0, 1]
    assert read_json(tmp_path / "r.json")["rounds"][0]["control_fids"] == r["control_fids"]
    with pytest.raises(ValueError, match="control_seeds"):
        TeacherConvergence("dcgan", tmp_path / "x", profile="quick", overrides=tiny, control_seeds=0)
