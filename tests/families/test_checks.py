"""What ``gc.compress`` (and the ``--model`` CLI path) is handed is checked before training (families/checks.py): a
generator dropping part of the batch, failing on its loss's inputs, float64 weights, uint8 or [0, 255] images, wrong
types for ``data`` / ``loss``, TorchScript modules and unsavable results each give one ``UserError`` naming the fix;
sparsity far below target and a factory discriminator used as D_O are warned about. Valid inputs still compress.
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gancompress as gc
from gancompress.errors import UserError
from tests.clirun import ROOT

NZ = 8


class G(nn.Module):
    def __init__(self, mode: str = "ok") -> None:
        super().__init__()
        self.mode = mode
        self.fc = nn.Linear(NZ, 4 * 4 * 4)
        self.out = nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.leaky_relu(self.fc(z)).view(z.shape[0], 4, 4, 4), scale_factor=2.0)
        x = torch.tanh(self.out(h))
        if self.mode == "batch1":
            return x[:1]
        if self.mode == "raise":
            raise RuntimeError("boom inside forward")
        return x


class G2In(G):
    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(z + y)


class D(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Conv2d(1, 4, 4, 2, 1)
        self.fc = nn.Linear(4 * 4 * 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.leaky_relu(self.c(x)).flatten(1)).squeeze(1)


class Loss(gc.GanLoss):
    g_weights: ClassVar[dict[str, float]] = {"gen": 1.0}
    d_weights: ClassVar[dict[str, float]] = {"real": 1.0, "fake": 1.0}

    def generator_input(self, batch):
        return (torch.randn(batch["real"].shape[0], NZ, device=batch["real"].device),)

    def sample_input(self, n, generator, device):
        return (torch.randn(n, NZ, generator=generator).to(device),)

    def generator_terms(self, g_out, batch, d):
        return {"gen": F.softplus(-d(g_out))}

    def discriminator_terms(self, g_out, batch, d, *, fake_only=False):
        terms = {"fake": F.softplus(d(g_out))}
        if not fake_only:
            terms["real"] = F.softplus(-d(batch["real"]))
        return terms


def _data(images: torch.Tensor | None = None) -> gc.ImageDataset:
    images = torch.rand(16, 1, 8, 8) * 2 - 1 if images is None else images
    return gc.ImageDataset(images, None, "toy", "train")


def _compress(g: nn.Module, d: nn.Module | None = None, data=None, loss=None, **kw) -> gc.CompressResult:
    torch.manual_seed(0)
    return gc.compress(
        g,
        D() if d is None else d,
        _data() if data is None else data,
        family=None,
        loss=Loss() if loss is None else loss,
        prune=kw.pop("prune", gc.PruneCfg(sparsity=0.5, schedule="one_shot")),
        train=gc.TrainCfg(steps=1, batch_size=4),
        **kw,
    )


@pytest.fixture(scope="module")
def result() -> gc.CompressResult:
    torch.set_num_threads(1)
    return _compress(G())


def test_valid_byo_gan_still_compresses(result: gc.CompressResult) -> None:
    assert result.summary()["sparsity"] == pytest.approx(0.5, abs=0.02)
    assert result.train is not None and result.train.steps == 1


# -------------------------------------------------------------------------------------------- 2: batch dimension


def test_generator_dropping_part_of_the_batch_is_refused() -> None:
    with pytest.raises(UserError, match=r"returned 1 images for 2 inputs of the loss's generator_input\(batch\)"):
        _compress(G("batch1"))


def test_cli_check_refuses_a_wrong_batch_and_accepts_a_right_one() -> None:
    from gancompress.families.user import UserModel, check_image_output

    check_image_output(UserModel("m.py:ok", G(), D(), Loss()), 1, 8)  # valid: no error
    with pytest.raises(UserError, match=r"^--model: the generator from m.py:b returned 1 images for 2 inputs"):
        check_image_output(UserModel("m.py:b", G("batch1"), D(), Loss()), 1, 8)


# ---------------------------------------------------------------------------------------- 5: image dtype / range


def test_uint8_images_are_refused_with_the_conversion() -> None:
    images = (torch.rand(16, 1, 8, 8) * 255).to(torch.uint8)
    expected = "images are uint8; convert to float32 in [-1, 1]: x.float() / 127.5 - 1"
    with pytest.raises(UserError, match=re.escape(expected)):
        _compress(G(), data=_data(images))


def test_images_in_0_255_are_refused_naming_the_range() -> None:
    images = torch.zeros(16, 1, 8, 8)
    images[0, 0, 0, 0] = 255.0
    with pytest.raises(UserError, match=re.escape("range over [0, 255] but gancompress expects [-1, 1]")):
        _compress(G(), data=_data(images))
    with pytest.raises(UserError, match="range over"):  # the teacher-training entry point checks too
        gc.train_teacher(gc.RunCfg(data=gc.DataCfg(name="fake", image_size=8)), _data(images))


# ----------------------------------------------------------------------------------------- 9: float32 parameters


@pytest.mark.parametrize(
    ("g", "d", "message"),
    [
        (
            lambda: G().double(),
            D,
            "generator has float64 parameters; gancompress trains in float32: call .float() on it",
        ),
        (G, lambda: D().half(), "discriminator has float16 parameters; gancompress trains in float32"),
    ],
)
def test_non_float32_modules_are_refused(g, d, message: str) -> None:
    with pytest.raises(UserError, match=re.escape(message)):
        _compress(g(), d())


# --------------------------------------------------------------------------------------- 11: trial forward fails


@pytest.mark.parametrize(
    ("g", "message"),
    [
        (G("raise"), "the generator failed on the loss's generator_input(batch): RuntimeError: boom inside forward"),
        (G2In(), "the generator failed on the loss's generator_input(batch): TypeError:"),
    ],
)
def test_generator_failing_on_its_inputs_is_refused(g: nn.Module, message: str) -> None:
    with pytest.raises(UserError, match=re.escape(message)):
        _compress(g)


def test_trial_forward_restores_each_modules_mode() -> None:
    from gancompress.api import check_output_shape

    g = G()
    g.out.eval()  # a user's deliberate mix of modes survives the check
    check_output_shape(g, _data(), Loss())
    assert g.training and g.fc.training and not g.out.training


# ---------------------------------------------------------------------------------------- 4: untrained D warning


def _args(**kw) -> argparse.Namespace:
    base = {"model": "m.py:build", "generator": "g.safetensors", "discriminator": None, "teacher": None}
    return argparse.Namespace(**{**base, **kw})


def test_missing_discriminator_weights_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    from gancompress.cli.compress import warn_untrained_d

    cfg = gc.RunCfg()
    with caplog.at_level(logging.WARNING, logger="gancompress"):
        warn_untrained_d(_args(), cfg.method, D())
    assert [r.getMessage() for r in caplog.records] == [
        "no --discriminator given: the factory's discriminator is used as D_O as built; self_supervised assumes a "
        "trained D (pass --discriminator weights)"
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gancompress"):
        warn_untrained_d(_args(discriminator="d.safetensors"), cfg.method, D())  # weights given
        warn_untrained_d(_args(), cfg.method, None)  # the factory has no D
        warn_untrained_d(_args(), gc.MethodCfg(name="agp_scratch"), D())  # D re-initialised
    assert not caplog.records


# ----------------------------------------------------------------------------------------- 6: sparsity shortfall


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "keeps at least" in r.message]


def test_sparsity_far_below_target_is_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    from gancompress.pruning import MaskSet

    tiny = nn.Sequential(nn.Linear(NZ, 1), nn.Conv2d(1, 1, 1))  # every layer has one unit
    masks = MaskSet.attach(tiny, granularity="filter").configure(final_sparsity=0.5)
    with caplog.at_level(logging.WARNING):
        assert masks.update(0.5) == 0.0
        masks.update(0.5)
    assert _warnings(caplog) == [
        "pruning to sparsity 50.0% achieved only 0.0% of the pruned layers' weights: layers too small for this "
        "granularity (filter): a layer always keeps at least one unit"
    ]


def test_normal_models_and_ramp_steps_do_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    from gancompress.pruning import MaskSet

    for gran in ("element", "filter"):
        model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
        masks = MaskSet.attach(model, granularity=gran).configure(final_sparsity=0.5)
        with caplog.at_level(logging.WARNING):
            masks.update(0.05)  # an early AGP step: rounds to 0 filters of 4, not a shortfall
            assert masks.update(0.5) == pytest.approx(0.5, abs=0.01)
    assert _warnings(caplog) == []


# ---------------------------------------------------------------------------------------- 12a: README's evaluate


def test_readme_evaluate_call_resolves_and_runs() -> None:
    import gancompress.evaluate as evaluate_module  # the submodule stays importable as a module
    from gancompress.evaluate import evaluate

    readme = (ROOT / "README.md").read_text()
    assert "gc.evaluate(" in readme or "from gancompress.evaluate import evaluate" in readme
    assert hasattr(evaluate_module, "Evaluator")
    assert gc.evaluate is evaluate_module and callable(gc.evaluate)  # gc.evaluate(...) calls evaluate(...)
    g, data = G().eval(), gc.load_dataset(gc.DataCfg(name="fake", image_size=8, limit=64), "train")  # labelled
    scores = evaluate(g, data, loss=Loss(), num_samples=32, metrics=["fid"], teacher=g, train_data=data)
    assert scores["num_samples"] == 32 and scores["fid"] >= 0
    again = gc.evaluate(g, data, loss=Loss(), num_samples=32, metrics=["fid"], teacher=g, train_data=data)
    assert again["fid"] == scores["fid"]


# ---------------------------------------------------------------------------------------- 12b: data / loss types


@pytest.mark.parametrize(
    "data",
    [
        torch.rand(16, 1, 8, 8),
        torch.utils.data.TensorDataset(torch.rand(16, 1, 8, 8)),
        torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.rand(16, 1, 8, 8)), batch_size=4),
        [{"real": torch.rand(1, 8, 8)}],
    ],
    ids=["Tensor", "TensorDataset", "DataLoader", "list"],
)
def test_data_that_is_not_an_image_dataset_is_refused(data) -> None:
    expected = f"data must be a gancompress.ImageDataset, got {type(data).__name__}; build one from an (N, C, H, W)"
    with pytest.raises(UserError, match=re.escape(expected)) as info:
        _compress(G(), data=data)
    assert 'gc.ImageDataset(images, labels=None, name="mine", split="train")' in str(info.value)


def test_loss_that_is_not_a_ganloss_instance_is_refused() -> None:
    with pytest.raises(UserError, match=r"loss= must be an instance of a gancompress\.GanLoss subclass .* got str"):
        _compress(G(), loss="hinge")
    with pytest.raises(UserError, match=re.escape("loss= got the class Loss; pass an instance of it: loss=Loss()")):
        _compress(G(), loss=Loss)


# ----------------------------------------------------------------------------------- 12c: save without arch_spec


def test_save_without_arch_spec_points_to_what_exists_and_leaves_no_directory(
    result: gc.CompressResult, tmp_path: Path
) -> None:
    out = tmp_path / "comp"
    with pytest.raises(
        UserError, match=re.escape("has no arch_spec; build it with gancompress.models.create_model")
    ) as info:
        gc.save(result, out)
    assert "register_user_model" not in str(info.value) and "'arch': 'user'" in str(info.value)
    assert not out.exists()
    for module in (result.generator, result.discriminator):
        module.arch_spec = {"arch": "user", "model": "m.py:build"}
    try:
        assert (gc.save(result, out) / "generator.json").is_file()
    finally:
        for module in (result.generator, result.discriminator):
            del module.arch_spec


def test_io_save_module_message_names_no_missing_function(tmp_path: Path) -> None:
    from gancompress.checkpoint import save_module

    with pytest.raises(
        UserError, match=re.escape("create_model or, for your own architecture, set module.arch_spec")
    ) as info:
        save_module(G(), tmp_path, "generator")
    assert "register_user_model" not in str(info.value)


# ---------------------------------------------------------------------------------------------- 12d: TorchScript


@pytest.mark.parametrize("make", [torch.jit.script, lambda g: torch.jit.trace(g, torch.randn(2, NZ))])
def test_torchscript_generators_are_refused(make, tmp_path: Path) -> None:
    from gancompress.families.user import build_user_model

    scripted = make(G().eval())
    message = "TorchScript modules cannot be pruned (their layers are not nn.Conv2d"
    with pytest.raises(UserError, match=re.escape("the generator is a TorchScript module: " + message)):
        _compress(scripted)
    with pytest.raises(UserError, match=re.escape(message)):
        gc.prune_oneshot(scripted, gc.PruneCfg(sparsity=0.5))
    factory = tmp_path / "scripted_model.py"
    factory.write_text(
        "import torch\nimport gancompress as gc\n"
        "class L(gc.GanLoss):\n"
        "    def generator_input(self, b): return (torch.randn(len(b['real']), 8),)\n"
        "    def sample_input(self, n, g, dev): return (torch.randn(n, 8, generator=g),)\n"
        "    def generator_terms(self, o, b, d): return {'gen': o.mean()}\n"
        "    def discriminator_terms(self, o, b, d, *, fake_only=False): return {'fake': o.mean()}\n"
        "def build():\n    return torch.jit.script(torch.nn.Sequential(torch.nn.Linear(8, 64))), None, L()\n"
    )
    with pytest.raises(UserError, match=re.escape(f"--model: the generator from {factory}:build is a TorchScript")):
        build_user_model(f"{factory}:build")
