"""gancompress.export.onnx: ONNX export parity (spectral norm baked in, the model left alone), the parity failure's
number, the opset range, and a missing onnx package named with its install.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gancompress.errors import UserError
from gancompress.export.onnx import ParityError, check_opset, export_onnx, onnx_opsets
from gancompress.models import create_model
from gancompress.pruning import MaskSet

# ------------------------------------------------------------------------------ F12: ONNX opset, evaluate a file


@pytest.mark.parametrize("opset", [0, 6, 999, True, "17"])
def test_bad_onnx_opset(opset: object) -> None:
    low, high = onnx_opsets()
    with pytest.raises(UserError, match=rf"choose --opset {low}\.\.{high}"):
        check_opset(opset)


def test_good_onnx_opset() -> None:
    low, high = onnx_opsets()
    assert low <= 17 <= high
    check_opset(17)


def tiny_generator() -> nn.Module:
    torch.manual_seed(0)
    return create_model("dcgan_generator", nz=16, ngf=8, channels=1, image_size=32).eval()


# ---------------------------------------------------------------------------------------------------------- ONNX


def test_export_onnx_parity_on_tiny_dcgan(tmp_path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    g = tiny_generator()
    MaskSet.attach(g, granularity="element").update(0.5)
    res = export_onnx(g, (torch.randn(3, 16),), tmp_path / "g.onnx")
    assert res["max_abs_diff"] <= 1e-4
    assert res["size_bytes"] == (tmp_path / "g.onnx").stat().st_size > 0
    assert res["opset"] == 17 and res["inputs"] == ["input"]
    assert not g.training


def test_export_onnx_bakes_in_spectral_norm_and_leaves_the_model_alone(tmp_path) -> None:
    """The exporter lacks spectral norm's aten::vdot: the eval-mode weight is exported as a constant instead."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from torch.nn.utils import parametrize
    from torch.nn.utils.parametrizations import spectral_norm

    torch.manual_seed(0)
    g = nn.Sequential(spectral_norm(nn.Conv2d(3, 4, 3)), nn.ReLU(), spectral_norm(nn.Conv2d(4, 3, 1)))
    g(torch.randn(2, 3, 8, 8))  # a training-mode step of the power iteration
    res = export_onnx(g, (torch.randn(2, 3, 8, 8),), tmp_path / "sn.onnx")
    assert res["max_abs_diff"] < 1e-4
    assert parametrize.is_parametrized(g[0]) and g.training  # the user's model keeps its parametrization and mode
    assert g(torch.randn(1, 3, 8, 8)).shape == (1, 3, 6, 6)


def test_export_onnx_parity_failure_reports_the_number(tmp_path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    with pytest.raises(ParityError, match=r"max abs difference vs PyTorch \S+ > tolerance -1"):
        export_onnx(tiny_generator(), (torch.randn(2, 16),), tmp_path / "g.onnx", atol=-1.0)


# ------------------------------------------------------------------------------------------------------- latency


def test_a_missing_onnx_package_is_named_with_its_install() -> None:
    from gancompress.export.latency import _why

    missing = ModuleNotFoundError("No module named 'onnx'", name="onnx")
    assert _why(missing) == "onnx is not installed (pip install 'gancompress[export]')"
    assert _why(RuntimeError("boom\nmore")) == "RuntimeError: boom"
