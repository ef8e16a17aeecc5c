"""gancompress.export.layer_latency: the per-layer latency table — grid shape and keys, interpolation, overhead,
grouped / depthwise / linear layers, JSON and the cache — on injected fake timings (no timing asserted); one real
measurement per backend checks only the structure."""

from __future__ import annotations

import itertools
import random

import pytest
import torch
from torch import nn

from gancompress.errors import UserError
from gancompress.export.layer_latency import LatencyTable, LayerSpec, layer_widths, table_key
from tests.export.nets import conv_net, fake_cost, narrowing

X = (torch.randn(1, 3, 8, 8),)


@pytest.fixture(scope="module")
def table() -> LatencyTable:
    return LatencyTable.measure(conv_net(), X, batch=2, timer=fake_cost)


def test_table_has_every_layer_its_grid_and_the_overhead(table: LatencyTable) -> None:
    assert sorted(table.layers) == ["0", "2", "4"]
    assert table.key == table_key("eager", 1, 2) and {"torch", "cpu"} <= set(table.key)
    first, middle = table.layers["0"], table.layers["2"]
    assert first.ins == (1, 2, 3) and middle.ins == middle.outs == (1, 4, 8, 12, 16, 20, 24, 28, 32)
    assert len(middle.seconds) == 9 and all(len(row) == 9 for row in middle.seconds)
    assert middle.spec.spatial == (8, 8) and middle.spec.out_per_channel == 64
    layers = sum(t.at(t.spec.in_channels, t.spec.out_channels) for t in table.layers.values())
    assert table.overhead_s == pytest.approx(table.whole_s - layers)
    assert table.predict({}) == pytest.approx(table.whole_s)
    assert table.predict_model(conv_net()) == pytest.approx(table.whole_s)


def test_grid_points_are_the_measured_costs(table: LatencyTable) -> None:
    t = table.layers["2"]
    for a, b in [(0, 0), (3, 5), (8, 8)]:
        c_in, c_out = t.ins[a], t.outs[b]
        expected = fake_cost(t.spec.build(c_in, c_out), t.spec.example(c_in, 2))
        assert t.seconds[a][b] == pytest.approx(expected)
        assert t.at(c_in, c_out) == pytest.approx(expected)


def test_predict_is_monotone_in_the_widths(table: LatencyTable) -> None:
    widths = range(1, 33)
    preds = [table.predict({"0": (3, w), "2": (w, w), "4": (w, 3)}) for w in widths]
    assert all(a <= b for a, b in itertools.pairwise(preds))
    assert preds[0] < preds[-1] == pytest.approx(table.whole_s)
    t = table.layers["2"]
    for c_in, c_out in [(5, 7), (13, 30), (22, 2)]:  # between grid points: bilinear, bounded by the corners
        assert t.at(c_in, c_out) <= t.at(c_in + 1, c_out) and t.at(c_in, c_out) <= t.at(c_in, c_out + 1)
    narrow = narrowing()(0.5)
    assert table.predict_model(narrow) == pytest.approx(table.predict({"0": (3, 16), "2": (16, 16), "4": (16, 3)}))


def test_noisy_timings_still_give_a_monotone_grid() -> None:
    rng = random.Random(0)
    noisy = lambda m, x: fake_cost(m, x) * rng.uniform(0.5, 1.5)  # noqa: E731
    table = LatencyTable.measure(conv_net(), X, timer=noisy)
    for t in table.layers.values():
        for row, nxt in itertools.pairwise(t.seconds):
            assert all(a <= b for a, b in zip(row, nxt, strict=True))
        assert all(list(row) == sorted(row) for row in t.seconds)


def test_grouped_depthwise_and_linear_layers() -> None:
    net = nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1, groups=64), nn.Conv2d(64, 32, 1, groups=4),
        nn.Flatten(2), nn.Linear(64, 10),
    )  # fmt: skip
    table = LatencyTable.measure(net, X, widths=(0.25, 0.5, 1.0), timer=fake_cost)
    dw, grouped, linear = table.layers["1"], table.layers["2"], table.layers["4"]
    assert dw.spec.depthwise and dw.outs == () and dw.ins == (8, 16, 32, 64) and len(dw.seconds[0]) == 1
    assert dw.spec.build(16, 16).groups == 16
    assert all(w % 4 == 0 for w in grouped.ins + grouped.outs) and grouped.spec.build(8, 8).groups == 4
    assert linear.spec.kind == "Linear" and linear.spec.spatial == (32,) and linear.ins == (8, 16, 32, 64)
    assert dw.at(24, 24) == pytest.approx((dw.at(16, 16) + dw.at(32, 32)) / 2)
    assert table.predict({"1": (32, 32)}) < table.predict({})


def test_layer_spec_rebuilds_the_geometry() -> None:
    conv = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1, output_padding=1, bias=False)
    spec = LatencyTable.measure(conv, (torch.randn(1, 8, 5, 5),), timer=fake_cost).layers[""].spec
    small = spec.build(2, 3)
    assert isinstance(small, nn.ConvTranspose2d) and (small.in_channels, small.out_channels) == (2, 3)
    assert small.stride == (2, 2) and small.output_padding == (1, 1) and small.bias is None
    assert small(*spec.example(2, batch=3)).shape == (3, 3, 11, 11)  # (5 − 1)·2 − 2·1 + 4 + 1
    assert isinstance(LayerSpec("Linear", 4, 2, (), 1).build(4, 2), nn.Linear)


def test_json_round_trip_and_cache(tmp_path, table: LatencyTable) -> None:
    assert LatencyTable.from_json(table.to_json()) == table
    calls = []
    counting = lambda m, x: calls.append(1) or fake_cost(m, x)  # noqa: E731
    path = tmp_path / "run" / "latency_table.json"
    first = LatencyTable.cached(path, conv_net(), X, timer=counting)
    n = len(calls)
    assert path.is_file() and n > 0
    assert LatencyTable.cached(path, conv_net(), X, timer=counting) == first and len(calls) == n  # reused
    assert LatencyTable.load(path) == first
    LatencyTable.cached(path, conv_net(), X, threads=2, timer=counting)  # another key: measured again
    assert len(calls) > n and LatencyTable.load(path).key["threads"] == 2
    with pytest.raises(ValueError, match="format"):
        LatencyTable.from_json('{"format": 99}')


def test_bad_arguments_and_unknown_layers(table: LatencyTable) -> None:
    with pytest.raises(UserError, match="backend"):
        LatencyTable.measure(conv_net(), X, backend="tpu")
    with pytest.raises(UserError, match="fractions"):
        LatencyTable.measure(conv_net(), X, widths=(0.0, 1.0))
    with pytest.raises(UserError, match="not in the latency table"):
        table.predict({"9": (1, 1)})
    assert layer_widths(conv_net(8)) == {"0": (3, 8), "2": (8, 8), "4": (8, 3)}


@pytest.mark.parametrize("backend", ["eager", "onnxruntime"])
def test_real_measurement_structure_and_threads_restored(backend: str) -> None:
    before = torch.get_num_threads()
    net = conv_net(8).train()
    table = LatencyTable.measure(net, X, backend=backend, threads=1, widths=(0.5, 1.0), repeats=1, min_sample_s=0)
    assert torch.get_num_threads() == before and net.training
    assert table.key["backend"] == backend and table.whole_s > 0
    # >= 0: ONNX Runtime's per-session-call cost is subtracted from lone layers, which can leave a tiny one at 0
    assert all(s >= 0 for t in table.layers.values() for row in t.seconds for s in row)
    assert table.predict_model(conv_net(4)) <= table.predict_model(conv_net(8)) == pytest.approx(table.whole_s)


def test_a_negative_overhead_scales_the_layers_and_keeps_predictions_positive(table: LatencyTable) -> None:
    layers = lambda widths: sum(table.layers[n].at(*w) for n, w in widths.items())  # noqa: E731
    dense = layers(layer_widths(conv_net()))
    fused = LatencyTable(table.key, table.layers, dense / 3, dense / 3 - dense)
    assert fused.overhead_s < 0 and fused.predict({}) == pytest.approx(fused.whole_s)
    thin = {"0": (3, 1), "2": (1, 1), "4": (1, 3)}
    assert 0 < fused.predict(thin) == pytest.approx(layers(thin) / 3)


def test_layers_the_forward_never_calls_are_left_out() -> None:
    class WithSpare(nn.Module):
        def __init__(self, width: int = 8) -> None:
            super().__init__()
            self.net, self.spare = conv_net(width), nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

    table = LatencyTable.measure(WithSpare(), X, timer=fake_cost)
    assert sorted(table.layers) == ["net.0", "net.2", "net.4"]
    assert table.predict_model(WithSpare(4)) < table.predict_model(WithSpare()) == pytest.approx(table.whole_s)
