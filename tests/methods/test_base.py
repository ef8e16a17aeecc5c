"""methods/base.py: the recovery options every method reads, the extra-parameter hook, and "off by default"
(docs/pruning.md "Recovery after pruning")."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

import gancompress as gc
import gancompress.methods.base as base
import gancompress.methods.self_supervised as self_supervised
import gancompress.training.loop as loop
from gancompress.config import MethodCfg
from gancompress.methods import create_method
from gancompress.rundir import RunDir, load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def _warnings(caplog: pytest.LogCaptureFixture, cfg: MethodCfg) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gancompress.methods.base"):
        create_method(cfg)
    return [r.getMessage() for r in caplog.records]


def test_recovery_options_are_read_where_used(caplog: pytest.LogCaptureFixture) -> None:
    assert _warnings(caplog, MethodCfg(bn_reestimate=4, feature_distill=1.0, d_feature=0.5)) == []
    assert _warnings(caplog, MethodCfg(name="lit", bn_reestimate=4)) == []  # every method re-estimates
    messages = _warnings(caplog, MethodCfg(name="lit", feature_distill=1.0, d_feature=0.5))
    assert len(messages) == 2 and "method.feature_distill = 1.0 has no effect" in messages[0]
    assert "bn_reestimate" in messages[0]  # the options listed include the common one


def test_a_method_has_no_extra_parameters_by_default() -> None:
    method = create_method(MethodCfg(name="agp_finetune"))
    assert method.extra_g_params() == []


def test_defaults_run_none_of_the_recovery_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With every option at its default no recovery code path runs, and checkpoints hold nothing new: a run is what
    it was before the options existed."""

    def boom(*_args, **_kwargs):
        raise AssertionError("a recovery code path ran with its option off")

    for module, name in [
        (loop, "ParameterEma"), (base, "reestimate_batchnorm"), (base, "has_batchnorm"),
        (self_supervised, "FeatureAdapters"), (self_supervised, "capture_outputs"),
        (self_supervised, "capture_last_layer_input"), (self_supervised, "buffers_untouched"),
    ]:  # fmt: skip
        monkeypatch.setattr(module, name, boom)
    data_cfg = gc.DataCfg(name="fake", image_size=16)
    torch.manual_seed(0)
    g, d = gc.get_family("dcgan").build(gc.ModelCfg(nz=16, ngf=8, ndf=8), data_cfg)
    res = gc.compress(
        g, d, gc.load_dataset(data_cfg, "train"), family="dcgan", run=RunDir(tmp_path / "run"),
        prune=gc.PruneCfg(sparsity=0.5, update_every=1), train=gc.TrainCfg(steps=3, batch_size=8, ckpt_every=3),
    )  # fmt: skip
    assert res.train.steps == 3
    tensors, meta = load_checkpoint(tmp_path / "run" / "checkpoints" / "step_3")
    assert {k.split(".")[0] for k in tensors} <= {"g", "d", "rng", "opt_g", "opt_d"}
    assert "ema" not in meta
    g_params = len(list(res.generator.parameters()))
    assert len(meta["optimizers"]["g"]["param_groups"][0]["params"]) == g_params  # no extra parameter
