"""gancompress.export.quantize and export.int8_gate: static int8 quantization (which layers run int8, exclusions, bad
input), the ONNX model as a module, and the quality gate's report, fallback and refusal — with a scripted evaluator,
so the gate's logic is tested without computing an FID — and every built-in family's generator exporting to int8."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from gancompress.errors import UserError
from gancompress.export.int8_gate import Int8QualityError, export_int8
from gancompress.export.onnx import export_onnx, ort_session
from gancompress.export.quantize import Int8Cfg, OnnxGenerator, calibration_feeds, quantize_onnx, weighted_nodes
from gancompress.export.subpixel import rewrite_conv_transpose
from gancompress.models import create_model
from tests.methods.recovery.families import FAMILIES, family_setup

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = Int8Cfg(calib_batches=2, calib_batch_size=4)  # calibration enough for a test, quick
REPORT_KEYS = {"config", "tolerance", "rewrite", "fp32", "calibration", "attempts", "accepted", "gate"}


class TinyGenerator(nn.Module):
    """z (B, 16) → Linear (a Gemm) → 32 × 4 × 4 → two 3×3 convs → tanh: ~18k weights, so int8 shrinks the file."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 32 * 4 * 4)
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 3, 3, padding=1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.body(self.fc(z).view(-1, 32, 4, 4)))


def latents(n: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    return (torch.randn(n, 16, generator=torch.Generator().manual_seed(seed)),)


@pytest.fixture(scope="module")
def fp32_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("int8") / "tiny.onnx"
    export_onnx(TinyGenerator().eval(), latents(2), path)
    return path


@pytest.fixture(scope="module")
def feeds() -> list[dict[str, np.ndarray]]:
    return calibration_feeds(["input"], [latents(8, 1000 + i) for i in range(3)])


def _weight_producers(path: Path) -> dict[str, str]:
    """``{weighted node: op type producing its weight input}`` (an initializer: ``"initializer"``)."""
    model = onnx.load(str(path))
    produced_by = {o: n.op_type for n in model.graph.node for o in n.output}
    inits = {i.name for i in model.graph.initializer}
    return {
        n.name: produced_by.get(n.input[1], "initializer" if n.input[1] in inits else "?")
        for n in model.graph.node
        if n.op_type in ("Conv", "Gemm", "ConvTranspose")
    }


def test_calibration_feeds_name_every_input() -> None:
    feeds = calibration_feeds(["a", "b"], [(torch.ones(2, 3), torch.zeros(2, 1)), (torch.ones(4, 3), torch.ones(4, 1))])
    assert len(feeds) == 2 and set(feeds[1]) == {"a", "b"}
    assert isinstance(feeds[0]["a"], np.ndarray) and feeds[1]["a"].shape == (4, 3)


@pytest.mark.parametrize("fmt", ["qdq", "qoperator"])
def test_quantize_onnx_runs_every_conv_and_gemm_in_int8(fp32_model: Path, feeds, tmp_path: Path, fmt: str) -> None:
    fp32 = onnx.load(str(fp32_model))
    names = weighted_nodes(fp32)
    assert [n.split("/")[-1] for n in names] == ["Gemm", "Conv", "Conv"]
    out = tmp_path / "q.onnx"
    res = quantize_onnx(fp32_model, out, feeds, Int8Cfg(fmt=fmt))
    assert out.is_file() and res["path"] == str(out) and res["size_bytes"] == out.stat().st_size
    assert res["size_bytes"] < 0.5 * fp32_model.stat().st_size  # int8 weights: about a quarter, plus scales
    assert res["int8_nodes"] == sum(n.op_type in ("Conv", "Gemm") for n in fp32.graph.node) == 3
    assert res["weighted_nodes"] == 3 and res["fp32_weighted"] == {} and res["excluded"] == []
    assert res["format"] == fmt and res["per_channel"] is True
    if fmt == "qdq":
        assert res["ops"]["DequantizeLinear"] >= 3 and res["ops"]["QuantizeLinear"] >= 1
        assert set(_weight_producers(out).values()) == {"DequantizeLinear"}
    else:
        # the Gemm becomes com.microsoft's QGemm: int8 too, not "excluded"
        assert res["ops"].get("QLinearConv") == 2 and res["ops"].get("QGemm") == 1
        assert "Conv" not in res["ops"] and "Gemm" not in res["ops"]


def test_excluded_nodes_stay_fp32(fp32_model: Path, feeds, tmp_path: Path) -> None:
    names = weighted_nodes(onnx.load(str(fp32_model)))
    first, middle, last = names
    out = tmp_path / "q.onnx"
    res = quantize_onnx(fp32_model, out, feeds, Int8Cfg(exclude=(first, last)))
    assert res["excluded"] == [first, last]
    assert res["fp32_weighted"] == {first: "excluded", last: "excluded"}
    assert res["int8_nodes"] == 1
    producers = _weight_producers(out)
    assert producers[first] == producers[last] == "initializer"  # fp32 weights, no DequantizeLinear
    assert producers[middle] == "DequantizeLinear"
    weights = {i.name: i.data_type for i in onnx.load(str(out)).graph.initializer}
    node = {n.name: n for n in onnx.load(str(out)).graph.node}
    assert weights[node[first].input[1]] == weights[node[last].input[1]] == onnx.TensorProto.FLOAT


def test_unknown_exclude_names_the_node(fp32_model: Path, feeds, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no node named 'no/such/Conv'.*weighted nodes: /fc/Gemm"):
        quantize_onnx(fp32_model, tmp_path / "q.onnx", feeds, Int8Cfg(exclude=("no/such/Conv",)))
    assert not (tmp_path / "q.onnx").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fmt": "int4"}, "int8 format must be qdq or qoperator, got 'int4'"),
        ({"calib_batches": 0}, "at least one batch"),
        ({"calib_batch_size": 0}, "at least one batch"),
    ],
)
def test_int8_cfg_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message):
        Int8Cfg(**kwargs)


def test_onnx_generator_is_onnx_runtime_behind_a_module(fp32_model: Path, feeds, tmp_path: Path) -> None:
    quantize_onnx(fp32_model, tmp_path / "q.onnx", feeds, SMALL)
    z = latents(5, 3)
    for path in (fp32_model, tmp_path / "q.onnx"):
        g = OnnxGenerator(path)
        assert isinstance(g, nn.Module) and g.input_names == ["input"]
        out = g(*z)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (5, 3, 4, 4)
        ref = ort_session(Path(path), 1).run(None, {"input": z[0].numpy()})[0]
        np.testing.assert_array_equal(out.numpy(), ref)
    torch.manual_seed(0)
    with torch.no_grad():  # the fp32 file is the PyTorch model; the int8 one is close to it, not equal
        torch_out = TinyGenerator().eval()(*z)
    assert (OnnxGenerator(fp32_model)(*z) - torch_out).abs().max() < 1e-5
    int8_diff = float((OnnxGenerator(tmp_path / "q.onnx")(*z) - torch_out).abs().max())
    assert 0 < int8_diff < 0.1


# ---------------------------------------------------------------------------------------------------- the gate


def dcgan() -> nn.Module:
    """32 px DCGAN: a stride-1 ConvTranspose stem + three upsampling ones, so four weighted layers after rewriting."""
    torch.manual_seed(0)
    return create_model("dcgan_generator", nz=16, ngf=8, channels=1, image_size=32).eval()


def expected_first_last() -> list[str]:
    """The first and last weighted node of the rewritten DCGAN's ONNX graph (what the fallback keeps fp32)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        export_onnx(rewrite_conv_transpose(dcgan())[0], latents(2), Path(tmp) / "g.onnx")
        names = weighted_nodes(onnx.load(str(Path(tmp) / "g.onnx")))
    assert len(names) == 4
    return [names[0], names[-1]]


class ScriptedEvaluator:
    """Stands in for :class:`gancompress.evaluate.Evaluator`: the fp32 model scores ``fp32_fid``, the int8 attempts
    score ``int8_fids`` in order; every call is recorded."""

    def __init__(self, fp32_fid: float, int8_fids: list[float]) -> None:
        self.fp32_fid, self.int8_fids, self.calls = fp32_fid, list(int8_fids), []

    def evaluate(self, g, loss, teacher=None, metrics=("fid",), seed=0) -> dict[str, Any]:
        self.calls.append({"g": g, "loss": loss, "teacher": teacher, "metrics": metrics, "seed": seed})
        fid = self.fp32_fid if teacher is None else self.int8_fids.pop(0)
        return {"fid": fid, "seed": seed, "params": 123}  # extra keys are not copied into the report


LOSS = object()  # the evaluator receives the loss unchanged; the scripted one never uses it


def test_export_int8_without_gate_writes_the_file_and_the_report(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "g.int8.onnx"
    rep = export_int8(dcgan(), latents, out, evaluator=None, loss=None, cfg=SMALL)
    assert out.is_file() and out.stat().st_size == rep["accepted"]["size_bytes"]
    assert set(rep) == REPORT_KEYS
    assert rep["gate"].startswith("off")
    assert rep["rewrite"]["conv_transpose_rewritten"] == 3 and rep["rewrite"]["max_abs_diff"] < 1e-5
    assert rep["fp32"]["max_abs_diff_vs_pytorch"] < 1e-4 and "fid" not in rep["fp32"]
    assert rep["fp32"]["size_bytes"] > rep["accepted"]["size_bytes"]
    assert rep["calibration"]["batches"] == 2 and rep["calibration"]["batch_size"] == 4
    assert list(rep["config"]["exclude"]) == [] and rep["tolerance"] == 0.05
    assert len(rep["attempts"]) == 1
    acc = rep["accepted"]
    assert acc["label"] == "all int8" and acc["passed"] and acc["path"] == str(out) and "fid_ratio" not in acc
    assert acc["int8_nodes"] == 3 and acc["weighted_nodes"] == 4  # the stride-1 stem: int8 storage, fp32 compute
    assert list(acc["fp32_weighted"].values()) == ["ConvTranspose: int8 storage, fp32 compute"]
    assert 0 < acc["max_abs_diff_vs_fp32"] < 0.1
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert ops.count("DepthToSpace") == 3 and ops.count("ConvTranspose") == 1 and "DequantizeLinear" in ops


def test_gate_falls_back_to_first_and_last_fp32(tmp_path: Path) -> None:
    out = tmp_path / "g.int8.onnx"
    ev = ScriptedEvaluator(10.0, [11.0, 10.3])  # all-int8: 1.10× (fails 5 %); first+last fp32: 1.03× (passes)
    rep = export_int8(dcgan(), latents, out, evaluator=ev, loss=LOSS, cfg=SMALL, seed=3)
    first_last = expected_first_last()

    assert rep["gate"] == "fid" and rep["fp32"]["fid"] == 10.0
    first, second = rep["attempts"]
    assert first["label"] == "all int8" and first["excluded"] == [] and not first["passed"]
    assert first["fid"] == 11.0 and first["fid_ratio"] == pytest.approx(1.1)
    assert second["label"] == "first and last layer fp32" and second["passed"]
    assert second["excluded"] == first_last and second["fid_ratio"] == pytest.approx(1.03)
    assert second["fp32_weighted"] == dict.fromkeys(first_last, "excluded")
    assert second["int8_nodes"] == first["int8_nodes"] - 1 == 2  # the stem's ConvTranspose never ran int8 anyway
    assert {k: v for k, v in rep["accepted"].items() if k != "path"} == second
    assert "params" not in second and "seed" not in second
    # the written model is the second attempt's: its first and last weighted layers read fp32 weights
    producers = _weight_producers(out)
    assert producers[first_last[0]] == producers[first_last[1]] == "initializer"
    assert sorted(producers.values()).count("DequantizeLinear") == 2
    # what the evaluator saw: fp32 first (no teacher), then each int8 attempt against the fp32 model
    assert len(ev.calls) == 3 and all(c["loss"] is LOSS and c["seed"] == 3 for c in ev.calls)
    assert all(tuple(c["metrics"]) == ("fid", "fidelity") for c in ev.calls)
    fp32_module = ev.calls[0]["g"]
    assert isinstance(fp32_module, OnnxGenerator) and ev.calls[0]["teacher"] is None
    assert all(c["teacher"] is fp32_module and isinstance(c["g"], OnnxGenerator) for c in ev.calls[1:])
    assert len({c["g"].path for c in ev.calls}) == 3


def test_gate_accepts_the_first_attempt_within_tolerance(tmp_path: Path) -> None:
    ev = ScriptedEvaluator(10.0, [10.4])
    rep = export_int8(dcgan(), latents, tmp_path / "g.onnx", evaluator=ev, loss=LOSS, cfg=SMALL)
    assert len(rep["attempts"]) == 1 and rep["accepted"]["label"] == "all int8" and len(ev.calls) == 2


def test_gate_refuses_when_every_attempt_fails(tmp_path: Path) -> None:
    out = tmp_path / "g.int8.onnx"
    ev = ScriptedEvaluator(10.0, [12.0, 11.0])
    with pytest.raises(Int8QualityError) as info:
        export_int8(dcgan(), latents, out, evaluator=ev, loss=LOSS, cfg=SMALL)
    exc = info.value
    assert isinstance(exc, UserError)
    message = str(exc)
    assert "int8 refused" in message and "5%" in message
    assert "1.200× fp32" in message and "1.100× fp32" in message  # each attempt's FID ratio
    assert "(FID 10)" in message and "all int8" in message and "first and last layer fp32" in message
    attempts = exc.report["attempts"]
    assert len(attempts) == 2 and not any(a["passed"] for a in attempts)
    assert [a["fid"] for a in attempts] == [12.0, 11.0]
    assert "accepted" not in exc.report and exc.report["fp32"]["fid"] == 10.0
    assert not out.exists()


def test_gate_tolerance_is_a_parameter(tmp_path: Path) -> None:
    ev = ScriptedEvaluator(10.0, [12.0])  # 1.2× passes a 25 % tolerance at once
    rep = export_int8(dcgan(), latents, tmp_path / "g.onnx", evaluator=ev, loss=LOSS, cfg=SMALL, tolerance=0.25)
    assert rep["tolerance"] == 0.25 and len(rep["attempts"]) == 1 and rep["accepted"]["fid_ratio"] == 1.2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"tolerance": -0.1}, "--int8-tolerance must be in"), ({"evaluator": object()}, "needs the family's loss")],
)
def test_export_int8_bad_input(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"evaluator": None, "loss": None, **kwargs}
    with pytest.raises(UserError, match=message):
        export_int8(dcgan(), latents, tmp_path / "g.onnx", cfg=SMALL, **args)
    assert not (tmp_path / "g.onnx").exists()


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_exports_to_int8(family: str, tmp_path: Path) -> None:
    _, _, g, _, loss = family_setup(family)
    g.eval()

    def make_inputs(n: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
        return tuple(loss.sample_input(n, torch.Generator().manual_seed(seed), "cpu"))

    out = tmp_path / f"{family}.int8.onnx"
    rep = export_int8(g, make_inputs, out, evaluator=None, loss=loss, cfg=SMALL)
    acc = rep["accepted"]
    assert out.is_file() and acc["passed"] and acc["path"] == str(out)
    assert math.isfinite(acc["max_abs_diff_vs_fp32"]) and acc["max_abs_diff_vs_fp32"] < 0.5
    assert acc["int8_nodes"] >= 1 and rep["rewrite"]["max_abs_diff"] < 1e-5
    # no ConvTranspose left to run fp32 except DCGAN's stride-1 stem
    stems = [v for v in acc["fp32_weighted"].values() if v.startswith("ConvTranspose")]
    assert len(stems) == (1 if family == "dcgan" else 0)
    inputs = make_inputs(3, 5)
    with torch.no_grad():
        ref = g(*inputs)
    got = OnnxGenerator(out)(*inputs)
    assert got.shape == ref.shape and torch.isfinite(got).all()
    assert (got - ref).abs().max() < 0.5


def test_quantizer_root_logger_warnings_are_kept_off_the_console(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ONNX Runtime's quantizer warns through the root logger about a 1-d InstanceNorm scale; those records go to
    gancompress's DEBUG log instead of the user's console."""
    torch.manual_seed(0)
    g = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.InstanceNorm2d(8, affine=True), nn.ReLU(),
                      nn.Conv2d(8, 3, 3, padding=1), nn.Tanh()).eval()  # fmt: skip
    path = tmp_path / "inorm.onnx"
    export_onnx(g, (torch.randn(2, 3, 8, 8),), path)
    feeds = [{"input": np.random.default_rng(i).standard_normal((4, 3, 8, 8), dtype=np.float32)} for i in range(2)]
    with caplog.at_level("DEBUG"):
        quantize_onnx(path, tmp_path / "inorm.int8.onnx", feeds)
    assert not [r for r in caplog.records if r.name == "root" and r.levelno >= 30]
    assert any("onnxruntime quantizer" in r.getMessage() for r in caplog.records if r.name.startswith("gancompress"))
