"""gancompress.export.subpixel: the sub-pixel rewrite of ConvTranspose2d is exact over a grid of geometries, covers only
what it claims, folds BatchNorm exactly without touching the original, rewrites every built-in family's generator, and
leaves an exported DCGAN with no upsampling ConvTranspose."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from gancompress.export.subpixel import SubPixelConvTranspose2d, fold_batchnorm, rewritable, rewrite_conv_transpose
from gancompress.models import create_model
from tests.methods.recovery.families import FAMILIES, family_setup

pytestmark = pytest.mark.usefixtures("one_thread")

ATOL = 1e-5
PADDINGS, OUTPUT_PADDINGS, SIZES = (0, 1, 2, 3), (0, 1, 2), ((1, 1), (3, 5), (4, 2))


def _check(ct: nn.ConvTranspose2d, x: torch.Tensor) -> str | None:
    """``None`` if the rewrite matches ``ct`` on ``x`` (shape and values), else what differs."""
    with torch.no_grad():
        ref, got = ct(x), SubPixelConvTranspose2d(ct)(x)
    if got.shape != ref.shape:
        return f"shape {tuple(got.shape)} != {tuple(ref.shape)}"
    diff = float((got - ref).abs().max())
    return None if diff < ATOL else f"max abs diff {diff:.3g}"


@pytest.mark.parametrize(("kernel", "stride"), list(itertools.product((1, 2, 3, 4, 5), (2, 3))))
def test_subpixel_is_exact_over_a_grid(kernel: int, stride: int) -> None:
    """Every padding / output padding / bias / (non-square) input size torch accepts with a non-empty output."""
    checked, failures = 0, []
    for p, op, bias, (h, w) in itertools.product(PADDINGS, OUTPUT_PADDINGS, (True, False), SIZES):
        torch.manual_seed(0)
        x = torch.randn(2, 2, h, w)
        try:
            ct = nn.ConvTranspose2d(2, 3, kernel, stride, p, output_padding=op, bias=bias)
            empty = ct(x).numel() == 0
        except RuntimeError:  # output_padding >= stride, or a negative output size: torch's own refusal
            continue
        if empty:
            continue
        checked += 1
        why = _check(ct, x)
        if why:
            failures.append(f"k={kernel} s={stride} p={p} op={op} bias={bias} in={h}x{w}: {why}")
    assert checked >= 20, checked  # the grid really exercised this kernel / stride
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    ("kernel", "padding", "output_padding"),
    [((3, 4), (1, 2), (0, 1)), ((5, 2), (2, 0), (1, 0)), ((1, 3), (0, 1), (1, 1)), ((4, 4), (1, 1), (1, 0))],
)
def test_subpixel_is_exact_for_non_square_kernels_and_paddings(kernel, padding, output_padding) -> None:
    torch.manual_seed(0)
    ct = nn.ConvTranspose2d(3, 4, kernel, 2, padding, output_padding=output_padding)
    assert _check(ct, torch.randn(2, 3, 3, 5)) is None


def test_subpixel_is_one_conv_with_s_squared_outputs_and_leaves_the_source_alone() -> None:
    torch.manual_seed(0)
    ct = nn.ConvTranspose2d(3, 5, 4, 2, 1)
    before = ct.weight.detach().clone()
    sp = SubPixelConvTranspose2d(ct)
    assert sp.weight.shape[:2] == (5 * 4, 3) and sp.bias.shape == (5 * 4,)
    assert torch.equal(ct.weight, before)
    # a batch of one and a larger batch: no state kept from the first call
    for n in (1, 7):
        assert _check(ct, torch.randn(n, 3, 6, 6)) is None


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (nn.ConvTranspose2d(4, 4, 4, 2, 1), True),
        (nn.ConvTranspose2d(4, 4, 3, 3, 0), True),
        (nn.ConvTranspose2d(4, 4, 4, 2, 1, groups=2), False),
        (nn.ConvTranspose2d(4, 4, 3, 2, 1, dilation=2), False),
        (nn.ConvTranspose2d(4, 4, 4, 1, 0), False),  # DCGAN's stem: stride 1
        (nn.ConvTranspose2d(4, 4, 4, (2, 1), 1), False),
        (nn.ConvTranspose2d(4, 4, 4, (2, 3), 1), False),
        (nn.Conv2d(4, 4, 4, 2, 1), False),
        (nn.ConvTranspose1d(4, 4, 4, 2, 1), False),
    ],
    ids=["k4s2", "k3s3", "groups", "dilation", "stride1", "strides2x1", "strides2x3", "conv2d", "conv1d"],
)
def test_rewritable(module: nn.Module, expected: bool) -> None:
    assert rewritable(module) is expected
    if isinstance(module, nn.ConvTranspose2d) and not expected:
        with pytest.raises(ValueError, match="cannot rewrite"):
            SubPixelConvTranspose2d(module)


def _bn(channels: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels)
    with torch.no_grad():  # non-trivial statistics and affine parameters
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.3, 3)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    return bn


@pytest.mark.parametrize("transpose", [False, True], ids=["conv", "conv_transpose"])
def test_fold_batchnorm_is_exact_in_eval_mode_and_leaves_the_original_alone(transpose: bool) -> None:
    torch.manual_seed(0)
    conv = nn.ConvTranspose2d(3, 6, 4, 2, 1) if transpose else nn.Conv2d(3, 6, 3, padding=1)
    net = nn.Sequential(conv, _bn(6), nn.ReLU(), _bn(6), nn.Conv2d(6, 2, 1))  # second BN follows a ReLU: kept
    net.train()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    folded = fold_batchnorm(net)

    assert not folded.training
    assert isinstance(folded[1], nn.Identity) and isinstance(folded[3], nn.BatchNorm2d)
    assert type(folded[0]) is type(conv) and folded[0] is not conv
    assert net.training and isinstance(net[1], nn.BatchNorm2d) and net[0] is conv  # original: same modules, mode
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())  # ... and values
    x = torch.randn(4, 3, 5, 7)
    with torch.no_grad():
        got, ref = folded(x), net.eval()(x)
    assert (got - ref).abs().max() < ATOL
    with torch.no_grad():  # the statistics matter: a fold that dropped the BatchNorm would fail above
        assert not torch.allclose(net[0](x), net[1](net[0](x)), atol=1e-2)


def _rewritable_count(m: nn.Module) -> int:
    return sum(rewritable(c) for c in m.modules())


@pytest.mark.parametrize("family", list(FAMILIES))
def test_rewrite_conv_transpose_on_every_family(family: str) -> None:
    _, _, g, _, loss = family_setup(family)
    g.eval()
    before = _rewritable_count(g)
    rewritten, count = rewrite_conv_transpose(g)
    assert count == before
    assert _rewritable_count(rewritten) == 0
    assert sum(isinstance(m, SubPixelConvTranspose2d) for m in rewritten.modules()) == count
    assert _rewritable_count(g) == before  # the original keeps its transposed convolutions
    inputs = tuple(loss.sample_input(3, torch.Generator().manual_seed(0), "cpu"))
    with torch.no_grad():
        ref, got = g(*inputs), rewritten(*inputs)
    assert got.shape == ref.shape
    assert (got - ref).abs().max() < ATOL


def test_families_that_upsample_with_conv_transpose_are_rewritten() -> None:
    """The rewrite is not vacuous: the families that upsample with ConvTranspose2d have some to rewrite."""
    counts = {f: rewrite_conv_transpose(family_setup(f)[2])[1] for f in ("dcgan", "pix2pix", "cyclegan", "stargan")}
    assert all(c >= 2 for c in counts.values()), counts


def test_exported_rewritten_dcgan_has_no_upsampling_conv_transpose(tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from gancompress.export.onnx import export_onnx

    torch.manual_seed(0)
    g = create_model("dcgan_generator", nz=16, ngf=8, channels=1, image_size=32).eval()
    rewritten, count = rewrite_conv_transpose(g)
    assert count == 3  # 4 → 8 → 16 → 32; the 1 → 4 stem has stride 1
    res = export_onnx(rewritten, (torch.randn(2, 16),), tmp_path / "g.onnx")
    assert res["max_abs_diff"] <= 1e-4
    nodes = onnx.load(str(tmp_path / "g.onnx")).graph.node
    transposed = [n for n in nodes if n.op_type == "ConvTranspose"]
    assert len(transposed) <= 1
    for n in transposed:
        strides = next(list(a.ints) for a in n.attribute if a.name == "strides")
        assert strides == [1, 1], n.name
    assert sum(n.op_type == "DepthToSpace" for n in nodes) == 3
    assert sum(n.op_type == "Conv" for n in nodes) == 3
