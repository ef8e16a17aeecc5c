"""Every GAN family: builds, trains, compresses (Eq. 7–9 through its terms), round-trips, prunes physically.

Tiny widths at 16 px on file-free data (``fake`` blobs, ``fake_edges`` for paired pix2pix); one CPU thread.
"""

from __future__ import annotations

import pytest
import torch

import gancompress as gc
from gancompress.api import compress, load_gan, save, train_teacher
from gancompress.config import DataCfg, ModelCfg, PruneCfg, RunCfg, TrainCfg
from gancompress.data import InfiniteLoader
from gancompress.evaluate import Evaluator
from gancompress.families import FAMILIES, EvalInputs, get_family
from gancompress.families.sampling import eval_inputs, generate
from gancompress.pruning import MaskSet
from gancompress.pruning.physical import remove_pruned_channels
from gancompress.rundir import RunDir

pytestmark = pytest.mark.usefixtures("one_thread")


SIZE = 16


CASES: dict[str, tuple[DataCfg, ModelCfg]] = {
    "cyclegan": (
        DataCfg(name="fake_unpaired", image_size=SIZE, classes=(2, 7)),
        ModelCfg(family="cyclegan", ngf=4, ndf=4, g_kwargs={"n_blocks": 1}),
    ),
    "dcgan": (DataCfg(name="fake", image_size=SIZE), ModelCfg(family="dcgan", nz=8, ngf=4, ndf=4)),
    "pix2pix": (DataCfg(name="fake_edges", image_size=SIZE), ModelCfg(family="pix2pix", ngf=4, ndf=4)),
    "stargan": (
        DataCfg(name="fake", image_size=SIZE, classes=(0, 3, 6)),
        ModelCfg(family="stargan", ngf=4, ndf=4, g_kwargs={"n_res": 1}),
    ),
    "srgan": (
        DataCfg(name="fake_sr", image_size=SIZE),
        ModelCfg(family="srgan", ngf=4, ndf=4, g_kwargs={"n_blocks": 1}, d_kwargs={"head_width": 8}),
    ),
}


#: Eq. 8: the D terms that depend on the fakes (docs/method.md §2) — "fake" (the adversarial "dis") and "gp".
EQ8_TERMS = {
    "cyclegan": {"fake_a", "fake_b"},
    "dcgan": {"fake"},
    "pix2pix": {"fake"},
    "stargan": {"fake", "gp"},
    "srgan": {"fake"},
}


G_TERMS = {
    "cyclegan": {"gen_ab", "gen_ba", "cycle_a", "cycle_b", "idt_a", "idt_b"},
    "dcgan": {"gen"},
    "pix2pix": {"gen", "l1"},
    "stargan": {"gen", "cls", "rec"},
    "srgan": {"gen", "content"},
}


D_TERMS = {
    "cyclegan": {"real_a", "fake_a", "real_b", "fake_b"},
    "dcgan": {"real", "fake"},
    "pix2pix": {"real", "fake"},
    "stargan": {"real", "fake", "cls", "gp"},
    "srgan": {"real", "fake"},
}


FAMILY_NAMES = sorted(CASES)


@pytest.fixture(scope="module", params=FAMILY_NAMES)
def case(request: pytest.FixtureRequest) -> dict:
    """A freshly built (g, d, loss) of one family, its data and one training batch."""
    name = request.param
    data_cfg, model_cfg = CASES[name]
    torch.manual_seed(0)
    fam = get_family(name)
    g, d = fam.build(model_cfg, data_cfg)
    train, test = gc.load_dataset(data_cfg, "train"), gc.load_dataset(data_cfg, "test")
    loss = fam.make_loss(g, d)
    batch = InfiniteLoader(train, 8, seed=0).next_batch()
    return {"name": name, "g": g, "d": d, "loss": loss, "train": train, "test": test, "batch": batch}


def test_every_registered_family_is_covered() -> None:
    assert set(FAMILIES.names()) == set(CASES)


def test_generator_output_shape_and_eval_inputs(case: dict) -> None:
    g, loss, test = case["g"], case["loss"], case["test"]
    ev = eval_inputs(loss, 5, seed=1, data=test)
    assert isinstance(ev, EvalInputs)
    out = g.eval()(*ev.inputs)
    assert out.shape == (5, 1, SIZE, SIZE)
    assert float(out.detach().abs().max()) <= 1.0  # tanh output range
    again = eval_inputs(loss, 5, seed=1, data=test)
    assert all(torch.equal(a, b) for a, b in zip(ev.inputs, again.inputs, strict=True))  # reproducible
    if case["name"] == "pix2pix":  # paired: target = the real image of the same example, source = its edges
        assert ev.target is not None and ev.target.shape == out.shape
        assert set(ev.inputs[0].unique().tolist()) <= {-1.0, 1.0}
    if case["name"] == "srgan":  # 4× super-resolution of held-out LR tiles, HR tile as target
        assert ev.inputs[0].shape == (5, 1, SIZE // 4, SIZE // 4) and ev.target.shape == out.shape
    if case["name"] == "stargan":  # sent to a different domain; target labels are dataset labels
        assert ev.target_label is not None and set(ev.target_label.tolist()) <= {0, 3, 6}
        src = loss.domain_index(test.labels[:0])  # empty lookup works
        assert src.numel() == 0
    # unbound sample_input (tracing, latency) still gives shape-correct inputs
    fresh = get_family(case["name"]).make_loss(g, None)
    assert g(*fresh.sample_input(2, torch.Generator().manual_seed(0), "cpu")).shape == (2, 1, SIZE, SIZE)


def test_terms_are_named_per_sample_and_eq8_set_is_exact(case: dict) -> None:
    name, g, d, loss, batch = case["name"], case["g"], case["d"], case["loss"], dict(case["batch"])
    g.train()
    out = g(*loss.generator_input(batch))
    g_terms = loss.generator_terms(out, batch, d)
    d_all = loss.discriminator_terms(out.detach(), batch, d)
    d_fake = loss.discriminator_terms(out.detach(), batch, d, fake_only=True)
    assert set(g_terms) == G_TERMS[name] == set(loss.g_weights)
    assert set(d_all) == D_TERMS[name] == set(loss.d_weights)
    assert set(d_fake) == EQ8_TERMS[name]
    for t in [*g_terms.values(), *d_all.values()]:
        assert t.shape == (8,) and torch.isfinite(t).all()
    # fake_terms (one shared D forward) = the separate calls on the same batch
    g2, d2 = loss.fake_terms(out, batch, d)
    for k in g_terms:
        torch.testing.assert_close(g2[k], g_terms[k])
    for k in d_fake:
        torch.testing.assert_close(d2[k], d_fake[k])
    # Eq. 7 and Eq. 8 terms on g_comp's fakes must train the generator
    total = sum(v.mean() for v in [*g2.values(), *d2.values()])
    grads = torch.autograd.grad(total, [p for p in g.parameters() if p.requires_grad], allow_unused=True)
    assert any(gr is not None and gr.abs().sum() > 0 for gr in grads)


def test_stargan_batch_draws_target_once_and_rec_follows_generator_scope() -> None:
    data_cfg, model_cfg = CASES["stargan"]
    fam = get_family("stargan")
    g, d = fam.build(model_cfg, data_cfg)
    other, _ = fam.build(model_cfg, data_cfg)
    loss = fam.make_loss(g, d)
    batch = InfiniteLoader(gc.load_dataset(data_cfg, "train"), 8, seed=0).next_batch()
    x1, x2 = loss.generator_input(batch), loss.generator_input(batch)
    assert torch.equal(x1[1], x2[1])  # D step, G step and l_O / l_C of one step share c′
    out = g(*x1).detach()
    rec = loss.generator_terms(out, batch, d)["rec"]
    with loss.generator_scope(other):
        rec_other = loss.generator_terms(out, batch, d)["rec"]
    assert loss.generator is g and not torch.allclose(rec, rec_other)
    with pytest.raises(gc.UserError, match="not one of the StarGAN domains"):
        loss.domain_index(torch.tensor([1]))


def test_self_supervised_judges_the_teacher_term_through_the_teacher() -> None:
    """Eq. 7's l_O must re-apply G_O (StarGAN "rec" = ‖x − G(G(x, c′), c)‖₁ with G = G_O), not the student."""
    from gancompress.methods import create_method

    data_cfg, model_cfg = CASES["stargan"]
    fam = get_family("stargan")
    torch.manual_seed(0)
    g_orig, d = fam.build(model_cfg, data_cfg)
    g_comp, _ = fam.build(model_cfg, data_cfg)  # a different network: the two rec terms must differ
    loss = fam.make_loss(g_orig, d)
    loss.generator = g_comp  # what compress() sets: the trained generator
    method = create_method(gc.MethodCfg(name="self_supervised"))
    method.setup(g_comp, g_orig, d, loss)
    batch = InfiniteLoader(gc.load_dataset(data_cfg, "train"), 8, seed=0).next_batch()
    seen: list[torch.nn.Module] = []
    original = loss._rec

    def spy(g_out: torch.Tensor, b: dict) -> torch.Tensor:
        seen.append(loss.generator)
        return original(g_out, b)

    loss._rec = spy
    method.generator_step(batch)
    assert seen[0] is g_orig and seen[-1] is g_comp and loss.generator is g_comp


def test_gradient_penalty_is_zero_for_unit_gradient_critic() -> None:
    class Linear(torch.nn.Module):  # D_src(x) = <w, x> with ‖w‖ = 1 ⇒ ‖∇‖ = 1 ⇒ penalty 0
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1, 4) / 2.0)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return (x.flatten(1) * self.w).sum(1, keepdim=True), torch.zeros(x.shape[0], 3)

    from gancompress.families.stargan import StarGANLoss

    loss = StarGANLoss((0, 1, 2), (1, 2, 2))
    real, fake = torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2)
    gp = loss.gradient_penalty(Linear(), real, fake, {"real": real})
    torch.testing.assert_close(gp, torch.zeros(3))


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_train_compress_and_save_load_round_trip(name: str, tmp_path) -> None:
    data_cfg, model_cfg = CASES[name]
    data = gc.load_dataset(data_cfg, "train")
    cfg = RunCfg(data=data_cfg, model=model_cfg, train=TrainCfg(steps=2, batch_size=8, log_every=1, ckpt_every=0))
    g, d, res = train_teacher(cfg, data, run=RunDir(tmp_path / "teacher"))
    assert res.steps == 2 and all(torch.isfinite(torch.tensor(v)) for v in res.history[-1].values())
    g_loaded, d_loaded = load_gan(tmp_path / "teacher")
    loss = get_family(name).make_loss(g_loaded, d_loaded)
    inputs = eval_inputs(loss, 4, data=gc.load_dataset(data_cfg, "test")).inputs
    with torch.no_grad():
        torch.testing.assert_close(g_loaded(*inputs), g.eval()(*inputs))

    # what a compression run works on (Family.select): the pair itself, or CycleGAN's a2b generator, D_B and a loss
    # whose cycle term runs through the frozen G_BA
    g_sel, d_sel, loss_sel = get_family(name).select(g, d, cfg)
    out = compress(
        g_sel,
        d_sel,
        data,
        family=name,
        loss=loss_sel,
        method="self_supervised",
        prune=PruneCfg(sparsity=0.5),
        train=TrainCfg(steps=2, batch_size=8, log_every=1, ckpt_every=0),
    )
    row = out.train.history[-1]
    selected_terms = {"gen", "cycle", "idt"} if name == "cyclegan" else G_TERMS[name]
    assert {"g/gc", "g/dc"} <= set(row) and all(f"g/{k}_orig" in row for k in selected_terms)
    assert out.summary()["sparsity"] == pytest.approx(0.5, abs=0.01)
    save(out, tmp_path / "comp", family=name)
    g_comp, _ = load_gan(tmp_path / "comp")
    with torch.no_grad():
        torch.testing.assert_close(g_comp(*inputs), out.generator.eval()(*inputs))


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_filter_pruning_removes_channels_physically(name: str) -> None:
    """No InstanceNorm running-stat / in-place-ReLU traps: torch-pruning traces the net and the output is unchanged."""
    data_cfg, model_cfg = CASES[name]
    fam = get_family(name)
    torch.manual_seed(0)
    g, d = fam.build(model_cfg, data_cfg)
    g, d, loss = fam.select(g, d, RunCfg(data=data_cfg, model=model_cfg))  # CycleGAN: G_AB (InstanceNorm, ConvT)
    loss.bind_eval_data(gc.load_dataset(data_cfg, "test"))
    example = loss.sample_input(2, torch.Generator().manual_seed(0), "cpu")
    convs = [n for n, m in g.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    exclude = [convs[-1]]  # the image-producing layer (pipeline.keep_output_dense)
    if name == "srgan":  # torch-pruning cannot remove channels across PixelShuffle: its producers stay dense
        exclude = [n for n in convs if n.startswith(("upsample.", "tail."))]
    MaskSet.attach(g, granularity="filter", exclude=exclude, example_inputs=example).update(0.5)
    small, report = remove_pruned_channels(g.eval(), example)
    assert report["removed"]
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in g.parameters())


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory: pytest.TempPathFactory) -> Evaluator:
    """One evaluator for the conditional families: paired edges + LR data whose labels are StarGAN's domains."""
    from gancompress.data.photo_tiles import with_lr

    cfg = DataCfg(name="fake_edges", image_size=SIZE, classes=(0, 3, 6))
    train, test = (with_lr(gc.load_dataset(cfg, split)) for split in ("train", "test"))
    return Evaluator(train, test, num_samples=64, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("name", ["pix2pix", "stargan", "srgan"])
def test_evaluator_scores_conditional_families_on_held_out_inputs(name: str, evaluator: Evaluator) -> None:
    data_cfg, model_cfg = CASES[name]
    fam = get_family(name)
    g, _ = fam.build(model_cfg, data_cfg)
    loss = fam.make_loss(g, None)
    scores = evaluator.evaluate(g, loss, teacher=g, metrics=("fid", "fidelity"))
    assert scores["fidelity_psnr"] > 90  # the teacher against itself on the same held-out inputs
    if name == "stargan":
        assert 0.0 <= scores["target_accuracy"] <= 1.0
    else:
        assert {"target_psnr", "target_ssim", "target_l1"} <= set(scores)
    test = evaluator.test
    torch.testing.assert_close(generate(g, loss, 3, data=test), generate(g, loss, 3, data=test))


def test_paired_dataset_keeps_sources_aligned() -> None:
    cfg = DataCfg(name="fake_edges", image_size=SIZE, classes=(2, 5), limit=40)
    ds = gc.load_dataset(cfg, "train")
    assert len(ds) == 40 and ds.extras["source"].shape == (40, 1, SIZE, SIZE)
    from gancompress.data.paired import canny_edges

    torch.testing.assert_close(ds.extras["source"], canny_edges(ds.images))  # still the edges of *these* images
    sub = ds.subset([3, 1])
    torch.testing.assert_close(sub.extras["source"][0], ds.extras["source"][3])
    batch = InfiniteLoader(ds, 8, seed=0).next_batch()
    torch.testing.assert_close(batch["source"], canny_edges(batch["real"]))
