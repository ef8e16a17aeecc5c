"""examples/infer_onnx.py: ONNX Runtime only (torch unimportable in its subprocess), a PNG grid PIL reads and whose
tiles match the model's outputs, the --json report, one-line errors with exit code 2, and ``--runtime openvino``
(the same grid as ONNX Runtime's; a one-line install hint when openvino is missing)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "infer_onnx.py"
JSON_KEYS = {"model", "runtime", "providers", "inputs", "batch", "threads", "rounds", "latency_ms", "ms_per_sample",
             "grid"}  # fmt: skip

# Runs ``argv[1]`` as __main__ with ``argv[2:]``: first checks that torch cannot be imported (the stub on PYTHONPATH),
# then refuses (and records) any import of torch while the script runs, even one the script would catch.
WRAPPER = r"""
import importlib.abc, runpy, sys
try:
    import torch
except ImportError as err:
    assert "blocked" in str(err), err
else:
    sys.exit("torch is importable in the example's subprocess")
attempts = []


class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            attempts.append(name)
            raise ImportError("torch is blocked in this test")
        return None


sys.meta_path.insert(0, Block())
sys.argv = sys.argv[1:]
code = 0
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exit_:
    code = exit_.code
if attempts:
    sys.stderr.write(f"torch import attempted: {attempts}\n")
    code = 99
sys.exit(code)
"""


class Latent(nn.Module):
    """z (B, 16) → (B, 16, 1, 1) → ConvTranspose 4×4 → ConvTranspose 8×8 → tanh: (B, 1, 8, 8), DCGAN-like."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(16, 8, 4, 1, 0), nn.ReLU(), nn.ConvTranspose2d(8, 1, 4, 2, 1), nn.Tanh()
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(-1, 16, 1, 1))


class StarLike(nn.Module):
    """(image (B, 3, H, W), one-hot label (B, 5)) → sigmoid conv, in [0, 1]; a second output (the label, doubled)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = label[:, :, None, None].expand(-1, -1, image.shape[2], image.shape[3])
        return torch.sigmoid(self.conv(torch.cat([image, maps], 1))), label * 2


def export(
    module: nn.Module, example: tuple[torch.Tensor, ...], path: Path, names: list[str], outputs: list[str], *,
    dynamic: dict[str, dict[int, str]] | None = None, meta: dict[str, Any] | None = None,
) -> Path:  # fmt: skip
    axes = {n: {0: "batch"} for n in [*names, *outputs]} | (dynamic or {})
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(), example, str(path), input_names=names, output_names=outputs, dynamic_axes=axes,
            opset_version=17, dynamo=False,
        )  # fmt: skip
    if meta is not None:
        model = onnx.load(str(path))
        entry = model.metadata_props.add()
        entry.key, entry.value = "gancompress", json.dumps(meta)
        onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Four tiny generators: latent (metadata), img2img (no metadata, an inputs npz next to it), star (two inputs,
    two outputs, dynamic H/W resolved by the metadata, output range [0, 1]) and dynhw (dynamic H/W, 5 channels, no
    metadata)."""
    d = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    latent, img2img, star = Latent(), nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Tanh()), StarLike()
    dynhw = nn.Sequential(nn.Conv2d(3, 5, 1), nn.Tanh())
    meta = {"family": "dcgan", "inputs": [{"name": "input", "shape": [16], "kind": "latent"}], "output_range": [-1, 1]}
    export(latent, (torch.randn(2, 16),), d / "latent.onnx", ["input"], ["output"], meta=meta)
    export(img2img, (torch.randn(2, 3, 8, 8),), d / "img2img.onnx", ["input"], ["output"])
    kinds = [{"name": "image", "shape": [3, 8, 8], "kind": "image"}, {"name": "label", "shape": [5], "kind": "label"}]
    star_meta = {"family": "stargan", "inputs": kinds, "output_range": [0, 1]}
    hw = {"image": {0: "batch", 2: "h", 3: "w"}}
    example = (torch.randn(2, 3, 8, 8), torch.eye(5)[:2])
    export(star, example, d / "star.onnx", ["image", "label"], ["output", "aux"], dynamic=hw, meta=star_meta)
    hw = {"input": {0: "batch", 2: "h", 3: "w"}, "output": {0: "batch", 2: "h", 3: "w"}}
    export(dynhw, (torch.randn(2, 3, 8, 8),), d / "dynhw.onnx", ["input"], ["output"], dynamic=hw)
    sources = np.random.default_rng(1).uniform(-1, 1, (5, 3, 8, 8)).astype(np.float32)
    np.savez(d / "img2img.inputs.npz", input=sources)
    nets = {"latent": latent, "img2img": img2img, "star": star, "dynhw": dynhw}
    return {"dir": d, "nets": nets, "sources": sources}


@pytest.fixture(scope="module")
def blocker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory whose ``torch`` package raises ImportError, put first on the subprocess's PYTHONPATH."""
    d = tmp_path_factory.mktemp("blocker")
    (d / "torch").mkdir()
    (d / "torch" / "__init__.py").write_text('raise ImportError("torch is blocked in this test")\n')
    return d


def run_example(blocker: Path, *args: Any, script: Path = SCRIPT) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(blocker), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    argv = [sys.executable, "-c", WRAPPER, str(script), *map(str, args)]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def expected_uint8(y: torch.Tensor, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Model outputs → (N, H, W, C) uint8, the script's documented mapping."""
    x = (y.detach().double().numpy() - low) / (high - low) * 255.0
    return np.clip(np.rint(x), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def tiles(png: Path, n: int, h: int, w: int, pad: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(the N tiles as (N, H, W, C), the grid as (rows, cols, C)) of a PNG grid; checks its size."""
    img = Image.open(png)
    grid = np.asarray(img)
    grid = grid[..., None] if grid.ndim == 2 else grid
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    assert img.size == (cols * (w + pad) + pad, rows * (h + pad) + pad)
    out = [grid[pad + (i // cols) * (h + pad) :, pad + (i % cols) * (w + pad) :][:h, :w] for i in range(n)]
    return np.stack(out), grid


def close(got: np.ndarray, want: np.ndarray) -> bool:
    return got.shape == want.shape and int(np.abs(got.astype(int) - want.astype(int)).max()) <= 1


def test_the_harness_blocks_and_detects_torch(blocker: Path, tmp_path: Path) -> None:
    script = tmp_path / "uses_torch.py"
    script.write_text("try:\n    import torch\nexcept ImportError:\n    pass\n")
    proc = run_example(blocker, script=script)
    assert proc.returncode == 99 and "torch import attempted" in proc.stderr


def test_latent_model_json_and_grid(models: dict[str, Any], blocker: Path) -> None:
    """Synthesised latents (standard normal, seed 0), the metadata model: documented JSON keys, a grayscale grid
    whose tiles are the generator's outputs."""
    model = models["dir"] / "latent.onnx"
    proc = ok(run_example(blocker, model, "--num", 10, "--batch", 4, "--rounds", 2, "--json"))
    report = json.loads(proc.stdout)
    assert set(report) == JSON_KEYS
    assert report["inputs"] == {"input": [4, 16]} and report["batch"] == 4 and report["threads"] == 1
    assert report["rounds"] == 2 and report["providers"] == ["CPUExecutionProvider"]
    assert report["runtime"] == "onnxruntime"
    lat = report["latency_ms"]
    assert 0 < lat["p10"] <= lat["median"] <= lat["p90"] and report["ms_per_sample"] == pytest.approx(lat["median"] / 4)
    assert Path(report["grid"]) == model.with_suffix(".grid.png") and Path(report["grid"]).is_file()
    assert Image.open(report["grid"]).mode == "L"
    got, grid = tiles(Path(report["grid"]), 10, 8, 8)
    z = torch.from_numpy(np.random.default_rng(0).standard_normal((10, 16)).astype(np.float32))
    with torch.no_grad():
        want = expected_uint8(models["nets"]["latent"](z))
    assert close(got, want)
    assert grid[:2].max() == 0 and grid[:, :2].max() == 0  # the padding is black


def test_npz_next_to_the_model_is_used_and_cycled(models: dict[str, Any], blocker: Path) -> None:
    """``MODEL.inputs.npz`` (5 samples) feeds a 7-tile RGB grid: tiles 5 and 6 repeat samples 0 and 1."""
    model = models["dir"] / "img2img.onnx"
    grid_path = models["dir"] / "out" / "img2img.png"
    proc = ok(run_example(blocker, model, "--num", 7, "--rounds", 2, "--grid", grid_path))
    assert "latency" in proc.stdout and "img2img.inputs.npz" in proc.stdout
    assert Image.open(grid_path).mode == "RGB"
    got, _ = tiles(grid_path, 7, 8, 8)
    with torch.no_grad():
        want = expected_uint8(models["nets"]["img2img"](torch.from_numpy(models["sources"])))
    assert close(got[:5], want) and close(got[5:], want[:2])


def test_two_inputs_from_metadata(models: dict[str, Any], blocker: Path) -> None:
    """The image + label model: metadata kinds (uniform image, one-hot label in graph-input order), its per-sample
    shape filling the dynamic H/W, output range [0, 1], and only the first of two outputs shown."""
    model = models["dir"] / "star.onnx"
    ok(run_example(blocker, model, "--num", 4, "--rounds", 2, "--seed", 3))
    rng = np.random.default_rng(3)
    image = rng.uniform(-1.0, 1.0, (4, 3, 8, 8)).astype(np.float32)
    label = np.eye(5, dtype=np.float32)[rng.integers(0, 5, size=4)]
    with torch.no_grad():
        out, _ = models["nets"]["star"](torch.from_numpy(image), torch.from_numpy(label))
    got, _ = tiles(model.with_suffix(".grid.png"), 4, 8, 8)
    assert close(got, expected_uint8(out, 0.0, 1.0))


def test_dynamic_axes_need_inputs(models: dict[str, Any], blocker: Path, tmp_path: Path) -> None:
    """Dynamic H/W without metadata: a one-line error naming --inputs; with an npz it runs (first 3 of 5 channels)."""
    model = models["dir"] / "dynhw.onnx"
    proc = run_example(blocker, model, "--rounds", 2)
    assert proc.returncode == 2 and "--inputs" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    x = np.random.default_rng(2).uniform(-1, 1, (3, 3, 6, 10)).astype(np.float32)
    np.savez(tmp_path / "x.npz", input=x)
    proc = ok(run_example(blocker, model, "--inputs", tmp_path / "x.npz", "--num", 4, "--rounds", 2, "--json"))
    assert "5 channels" in proc.stderr and json.loads(proc.stdout)["inputs"] == {"input": [16, 3, 6, 10]}
    got, _ = tiles(model.with_suffix(".grid.png"), 4, 6, 10)
    with torch.no_grad():
        want = expected_uint8(models["nets"]["dynhw"](torch.from_numpy(x[[0, 1, 2, 0]]))[:, :3])
    assert close(got, want)


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("missing_model", "does not exist"),
        ("not_onnx", "cannot load"),
        ("batch_0", "--batch"),
        ("npz_missing_input", "no array for input"),
        ("npz_wrong_shape", "has shape (3, 15)"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(
    models: dict[str, Any], blocker: Path, tmp_path: Path, case: str, needle: str
) -> None:
    model = models["dir"] / "latent.onnx"
    args: list[Any] = [model, "--rounds", 2, "--grid", tmp_path / "g.png"]
    if case == "missing_model":
        args[0] = tmp_path / "nothing.onnx"
    elif case == "not_onnx":
        args[0] = tmp_path / "bogus.onnx"
        args[0].write_text("not an ONNX model\n")
    elif case == "batch_0":
        args += ["--batch", 0]
    else:
        bad = {"z": np.zeros((3, 16), np.float32)} if case == "npz_missing_input" else {"input": np.zeros((3, 15))}
        np.savez(tmp_path / "bad.npz", **bad)
        args += ["--inputs", tmp_path / "bad.npz"]
    proc = run_example(blocker, *args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and needle in proc.stderr
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("name", ["latent", "star"])
def test_openvino_runtime_matches_onnxruntime(models: dict[str, Any], blocker: Path, tmp_path: Path, name: str) -> None:
    """``--runtime openvino`` (torch still blocked) on fp32 models: the grid equals ONNX Runtime's within one gray
    level — for the star model its metadata (read through OpenVINO) resolves the dynamic H/W and the input kinds, and
    its second output is skipped — and the JSON names the runtime. The grid's last chunk (10 = 4 + 4 + 2) is a second
    batch shape, compiled separately."""
    pytest.importorskip("openvino")
    model = models["dir"] / f"{name}.onnx"
    reports = {}
    for runtime in ("onnxruntime", "openvino"):
        args = [model, "--runtime", runtime, "--num", 10, "--batch", 4, "--rounds", 2, "--threads", 1, "--json"]
        proc = ok(run_example(blocker, *args, "--grid", tmp_path / f"{runtime}.png"))
        reports[runtime] = json.loads(proc.stdout)
    report = reports["openvino"]
    assert set(report) == JSON_KEYS and report["runtime"] == "openvino" and report["providers"] == ["CPU"]
    assert report["inputs"] == reports["onnxruntime"]["inputs"] and report["batch"] == 4
    assert report["latency_ms"]["median"] > 0
    got, _ = tiles(tmp_path / "openvino.png", 10, 8, 8)
    want, _ = tiles(tmp_path / "onnxruntime.png", 10, 8, 8)
    assert close(got, want)


def test_openvino_missing_is_one_line_with_exit_code_2(models: dict[str, Any], blocker: Path, tmp_path: Path) -> None:
    """A stub ``openvino`` that fails to import (first on PYTHONPATH): one line naming ``pip install openvino``."""
    (tmp_path / "openvino").mkdir()
    (tmp_path / "openvino" / "__init__.py").write_text('raise ImportError("no openvino here")\n')
    env_path = os.pathsep.join([str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", env_path)
        proc = run_example(blocker, models["dir"] / "latent.onnx", "--runtime", "openvino", "--grid", tmp_path / "g")
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "pip install openvino" in proc.stderr
    assert not (tmp_path / "g").exists()


def _load_example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("infer_onnx_example", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclass resolves annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("shape", [(5, 7), (4, 6, 3)])
def test_png_writer_round_trips_through_pil(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: tuple[int, ...]
) -> None:
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    _load_example(monkeypatch).write_png(tmp_path / "x.png", image)
    with Image.open(tmp_path / "x.png") as img:
        assert img.mode == ("L" if len(shape) == 2 else "RGB")
        assert np.array_equal(np.asarray(img), image)
