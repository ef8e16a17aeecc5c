"""CycleGAN: unpaired two-domain data, one direction selected for compression, the frozen reverse generator, the CLI.

Tiny widths at 16 px on file-free ``fake_unpaired`` blobs (domains = blob classes 2 and 7); one CPU thread.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import gancompress as gc
from gancompress.api import compress
from gancompress.cli.main import main
from gancompress.config import DataCfg, ModelCfg, PruneCfg, RunCfg, TrainCfg, override
from gancompress.data import InfiniteLoader
from gancompress.evaluate import Evaluator
from gancompress.families import get_family
from gancompress.families.cyclegan import CycleDirectionLoss
from gancompress.families.sampling import eval_inputs
from gancompress.pruning import MaskSet
from gancompress.pruning.physical import remove_pruned_channels

pytestmark = pytest.mark.usefixtures("one_thread")


SIZE = 16


A, B = 2, 7


DATA = DataCfg(name="fake_unpaired", image_size=SIZE, classes=(A, B))


MODEL = ModelCfg(family="cyclegan", ngf=4, ndf=4, g_kwargs={"n_blocks": 1})


def _cfg(direction: str = "a2b") -> RunCfg:
    return RunCfg(data=DataCfg(**{**DATA.__dict__, "direction": direction}), model=MODEL)


def _rows_in(x: torch.Tensor, pool: torch.Tensor) -> bool:
    """Every image of ``x`` is one of ``pool``'s images."""
    flat = pool.flatten(1)
    return all(bool((flat == row.flatten()).all(1).any()) for row in x)


def _teacher() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    return get_family("cyclegan").build(MODEL, DATA)


@pytest.mark.parametrize("direction", ["a2b", "b2a"])
def test_unpaired_batches_hold_target_as_real_and_source_domain_as_source(direction: str) -> None:
    ds = gc.load_dataset(_cfg(direction).data, "train")
    target, source = (B, A) if direction == "a2b" else (A, B)
    assert set(ds.labels.tolist()) == {target} and set(ds.extras["source_label"].tolist()) == {source}
    batch = InfiniteLoader(ds, 16, seed=0).next_batch()
    assert set(batch["label"].tolist()) == {target} and set(batch["source_label"].tolist()) == {source}
    # the sources are the other domain's images themselves (not derived from the targets): unpaired
    base = gc.load_dataset(DataCfg(name="fake", image_size=SIZE), "train")
    assert _rows_in(batch["source"], base.images[base.labels == source])
    # the evaluator's domain classifier is trained on the whole base dataset, not one class
    assert ds.classifier_data is not None and ds.classifier_data.labels.unique().numel() == 10


def test_direction_flip_swaps_domains_and_bad_pairs_are_refused() -> None:
    a2b, b2a = (gc.load_dataset(_cfg(d).data, "test") for d in ("a2b", "b2a"))
    # a2b's targets are b2a's sources (domain B) and the other way round; the smaller domain is cycled
    assert _rows_in(b2a.extras["source"], a2b.images) and _rows_in(a2b.extras["source"], b2a.images)
    assert torch.equal(a2b.labels.unique(), b2a.extras["source_label"].unique())
    default = gc.load_dataset(DataCfg(name="fake_unpaired", image_size=SIZE), "test")
    assert set(default.labels.tolist()) == {9} and set(default.extras["source_label"].tolist()) == {7}
    with pytest.raises(gc.UserError, match="exactly two distinct classes"):
        gc.load_dataset(DataCfg(name="fake_unpaired", image_size=SIZE, classes=(1, 2, 3)), "test")
    with pytest.raises(gc.UserError, match="valid values: a2b, b2a"):
        override(RunCfg(), ["data.direction=sideways"])


@pytest.mark.parametrize(
    ("direction", "g_name", "d_name", "rev_name"), [("a2b", "g_ab", "d_b", "g_ba"), ("b2a", "g_ba", "d_a", "g_ab")]
)
def test_select_picks_the_direction_generator_and_target_domain_discriminator(
    direction: str, g_name: str, d_name: str, rev_name: str
) -> None:
    g, d = _teacher()
    g_sel, d_sel, loss = get_family("cyclegan").select(g, d, _cfg(direction))
    assert g_sel is getattr(g, g_name) and d_sel is getattr(d, d_name)
    assert isinstance(loss, CycleDirectionLoss) and set(loss.g_weights) == {"gen", "cycle", "idt"}
    assert loss.g_weights == {"gen": 1.0, "cycle": 10.0, "idt": 5.0}  # λ_cyc = 10, λ_idt = 0.5·λ_cyc
    reverse = getattr(g, rev_name)
    assert loss.reverse is not reverse  # a frozen private copy; the teacher stays as it was
    assert all(torch.equal(p, q) for p, q in zip(loss.reverse.parameters(), reverse.parameters(), strict=True))
    assert g_sel.arch_spec["kwargs"]["direction"] == direction
    # a single-direction generator (a compressed run) keeps going, without the cycle term; a mismatch is refused
    g2, d2, single = get_family("cyclegan").select(g_sel, d_sel, _cfg(direction))
    assert (g2, d2) == (g_sel, d_sel) and set(single.g_weights) == {"gen", "idt"}
    other = "b2a" if direction == "a2b" else "a2b"
    with pytest.raises(gc.UserError, match=f"data.direction={direction}"):
        get_family("cyclegan").select(g_sel, None, _cfg(other))


def test_compress_step_trains_through_the_frozen_reverse_generator_only() -> None:
    g, d = _teacher()
    cfg = _cfg("a2b")
    g_sel, d_sel, loss = get_family("cyclegan").select(g, d, cfg)
    reverse_before = {k: v.clone() for k, v in loss.reverse.state_dict().items()}
    teacher_g_ba = {k: v.clone() for k, v in g.g_ba.state_dict().items()}
    data = gc.load_dataset(cfg.data, "train")
    # the cycle term's gradient reaches G's output (it trains G) but no reverse-G parameter
    batch = InfiniteLoader(data, 8, seed=0).next_batch()
    out = g_sel(*loss.generator_input(batch))
    cycle = loss.generator_terms(out, batch, d_sel)["cycle"].mean()
    (grad_out,) = torch.autograd.grad(cycle, out, retain_graph=True)
    assert grad_out.abs().sum() > 0
    cycle.backward()
    assert all(p.grad is None and not p.requires_grad for p in loss.reverse.parameters())
    g_sel.zero_grad()

    res = compress(
        g_sel,
        d_sel,
        data,
        family="cyclegan",
        loss=loss,
        method="self_supervised",
        prune=PruneCfg(sparsity=0.5),
        train=TrainCfg(steps=2, batch_size=8, log_every=1, ckpt_every=0),
    )
    row = res.train.history[-1]
    assert {"g/cycle", "g/cycle_orig", "g/idt", "g/gen"} <= set(row)
    for k, v in loss.reverse.state_dict().items():
        torch.testing.assert_close(v, reverse_before[k])
    for k, v in g.g_ba.state_dict().items():
        torch.testing.assert_close(v, teacher_g_ba[k])
    assert res.generator.arch_spec["kwargs"]["direction"] == "a2b"


def test_instance_norm_generator_filter_prunes_and_shrinks_physically() -> None:
    g, d = _teacher()
    g_sel, _, loss = get_family("cyclegan").select(g, d, _cfg("b2a"))
    loss.bind_eval_data(gc.load_dataset(_cfg("b2a").data, "test"))
    example = loss.sample_input(2, torch.Generator().manual_seed(0), "cpu")
    convs = [n for n, m in g_sel.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in g_sel.modules())
    norms = [m for m in g_sel.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert norms and all(m.affine and not m.track_running_stats for m in norms)
    MaskSet.attach(g_sel, granularity="filter", exclude=[convs[-1]], example_inputs=example).update(0.5)
    small, report = remove_pruned_channels(g_sel.eval(), example)  # checks the output is unchanged
    assert report["removed"] and report["params_after"] < report["params_before"]
    assert any(
        m.num_features < n.num_features
        for m, n in zip((m for m in small.modules() if isinstance(m, torch.nn.InstanceNorm2d)), norms, strict=True)
    )


def test_single_direction_loss_evaluates_on_held_out_sources(tmp_path: Path) -> None:
    g, _ = _teacher()
    test = gc.load_dataset(_cfg("b2a").data, "test")
    g_ba, _, _ = get_family("cyclegan").select(g, None, _cfg("b2a"))
    loss = get_family("cyclegan").make_loss(g_ba, None)  # what evaluate / benchmark / export build
    assert loss.direction == "b2a" and "cycle" not in loss.g_weights
    ev = eval_inputs(loss, 6, seed=1, data=test)
    assert ev.target is None and set(ev.target_label.tolist()) == {A}  # b2a: outputs should look like domain A
    assert _rows_in(ev.inputs[0], test.extras["source"])
    evaluator = Evaluator(gc.load_dataset(_cfg("b2a").data, "train"), test, num_samples=32, cache_dir=tmp_path)
    scores = evaluator.evaluate(g_ba, loss, teacher=g_ba, metrics=("fid", "fidelity"))
    assert scores["fidelity_psnr"] > 90 and 0.0 <= scores["target_accuracy"] <= 1.0


def test_cli_compresses_each_direction_and_rejects_bad_direction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GANCOMPRESS_CACHE", str(tmp_path / "cache"))
    common = ["--data", "fake_unpaired", "--set", "data.image_size=16", "--set", "data.classes=2,7"]
    common += ["--set", "model.family=cyclegan", "--set", "model.ngf=4", "--set", "model.ndf=4"]
    common += ["--set", 'model.g_kwargs={"n_blocks": 1}', "--batch-size", "8", "-q"]
    teacher = tmp_path / "teacher"
    assert main(["train", *common, "--steps", "2", "--out", str(teacher)]) == 0
    assert json.loads((teacher / "generator.json").read_text())["arch"] == "cycle_generators"

    assert (
        main(["train", *common, "--steps", "2", "--set", "data.direction=sideways", "--out", str(tmp_path / "x")]) == 2
    )
    err = capsys.readouterr().err
    assert "data.direction" in err and "a2b, b2a" in err and "Traceback" not in err

    for direction in ("a2b", "b2a"):
        out = tmp_path / f"comp_{direction}"
        cmd = ["compress", "--teacher", str(teacher), "--set", f"data.direction={direction}", "--sparsity", "0.5"]
        assert main([*cmd, "--steps", "2", "--batch-size", "8", "--out", str(out), "-q"]) == 0
        meta = json.loads((out / "generator.json").read_text())
        assert (meta["arch"], meta["kwargs"]["direction"]) == ("resnet_generator", direction)
        # evaluate scores the recorded direction, even when asked for the other one
        other = "b2a" if direction == "a2b" else "a2b"
        evaluate = ["evaluate", str(out), "--num-samples", "16", "--set", f"data.direction={other}"]
        assert (
            main([*evaluate, "--set", 'eval.metrics=["fid","fidelity"]', "--output", str(tmp_path / "e.json"), "-q"])
            == 0
        )
        scores = json.loads((tmp_path / "e.json").read_text())[str(out)]
        assert scores["real_set"] == "fake_unpaired/test" and scores["sparsity"] == pytest.approx(0.5, abs=0.01)
        assert "fidelity_psnr" in scores  # compared with the teacher's generator of the same direction
