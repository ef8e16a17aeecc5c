"""Unit tests for the packed sparse export (gancompress.pruning.packed): exact round trips, size, corrupt files."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from gancompress.checkpoint import load_state_dict_checked
from gancompress.errors import CorruptCheckpointError
from gancompress.models import create_model
from gancompress.pruning import MaskSet
from gancompress.pruning.packed import (
    META_KEY,
    load_packed,
    pack_state_dict,
    packed_size_ratio,
    read_packed_meta,
    save_packed,
    unpack_state_dict,
)
from tests.pruning.nets import dcgan

torch.set_num_threads(1)


def pruned(granularity: str, sparsity: float = 0.5) -> nn.Module:
    g = dcgan()
    MaskSet.attach(g, granularity=granularity).update(sparsity)
    return g


def assert_bit_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert list(a) == list(b)
    for key in a:
        x, y = a[key], b[key]
        assert x.dtype == y.dtype and x.shape == y.shape, key
        assert torch.equal(x.reshape(-1).view(torch.uint8), y.reshape(-1).view(torch.uint8)), key


@pytest.mark.parametrize("granularity", ["element", "nm"])
def test_round_trip_bit_identical(granularity: str) -> None:
    g = pruned(granularity)
    state = g.state_dict()
    tensors, meta = pack_state_dict(state)
    masked = [k for k in state if k.endswith(".weight_mask")]
    assert len(masked) == 4 and len(meta["packed"]) == 4
    assert not any(k.endswith("weight_mask") for k in tensors)  # the masks ARE the bitmasks
    for key in meta["packed"]:
        assert tensors[key + ".__bits"].dtype == torch.uint8
        assert tensors[key + ".__values"].numel() == int(state[key + "_mask"].sum())
        assert key + ".__exc_idx" not in tensors  # MaskSet.apply leaves exact +0.0 in pruned entries
    assert_bit_identical(unpack_state_dict(tensors, meta), state)


def test_negative_zero_and_edited_weights_stay_exact() -> None:
    g = pruned("element")
    with torch.no_grad():
        w, m = g.net[3].weight, g.net[3].weight_mask
        w.copy_(torch.where(m == 0, -0.0, w))  # −0.0 from an old `w * mask`
        w.view(-1)[(m.view(-1) == 0).nonzero()[0]] = 7.5  # a pruned entry edited after masking
    state = g.state_dict()
    tensors, meta = pack_state_dict(state)
    assert "net.3.weight.__exc_idx" in tensors
    assert_bit_identical(unpack_state_dict(tensors, meta), state)


def test_non_binary_mask_and_root_layer_are_handled() -> None:
    layer = nn.Linear(8, 4)
    MaskSet.attach(layer).update(0.5)  # keys "weight" / "weight_mask" at the root
    tensors, meta = pack_state_dict(layer.state_dict())
    assert set(meta["packed"]) == {"weight"}
    layer.weight_mask[0, 0] = 0.5  # not a 0/1 mask: stored as is, still exact
    state = layer.state_dict()
    tensors, meta = pack_state_dict(state)
    assert meta["packed"] == {} and "weight_mask" in tensors
    assert_bit_identical(unpack_state_dict(tensors, meta), state)


def test_packed_ratio_at_half_element_sparsity() -> None:
    ratio = packed_size_ratio(pruned("element", 0.5))
    # 4 B × 0.5 values + 1/8 B bitmask per weight ≈ 0.53 of the dense fp32 file (headers and BatchNorm extra)
    assert 0.5 < ratio <= 0.55
    assert packed_size_ratio(pruned("element", 0.9)) < 0.15
    assert packed_size_ratio(pruned("nm")) <= 0.55


def test_save_load_packed_rebuilds_the_model(tmp_path) -> None:
    g = pruned("element")
    path = save_packed(g, tmp_path / "g.packed.safetensors")
    meta = read_packed_meta(path)
    assert meta["arch_spec"] == g.arch_spec
    state = load_packed(path)
    assert_bit_identical(state, g.state_dict())
    fresh = create_model(meta["arch_spec"]["arch"], **meta["arch_spec"]["kwargs"])
    load_state_dict_checked(fresh, state, path)
    z = torch.randn(4, 16)
    with torch.no_grad():
        assert torch.equal(fresh.eval()(z), g.eval()(z))
    assert MaskSet.from_model(fresh).overall_sparsity() == pytest.approx(0.5)


def test_corrupt_packed_files(tmp_path) -> None:
    g = pruned("element")
    path = save_packed(g, tmp_path / "g.packed.safetensors")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match=r"corrupt checkpoint .*truncated"):
        load_packed(truncated)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01not a safetensors file" * 10)
    with pytest.raises(CorruptCheckpointError, match="corrupt checkpoint"):
        load_packed(garbage)
    dense = tmp_path / "dense.safetensors"
    save_file({k: v.contiguous() for k, v in g.state_dict().items()}, str(dense))
    with pytest.raises(CorruptCheckpointError, match="not a packed"):
        load_packed(dense)
    # consistent safetensors, inconsistent content: fewer values than the bitmask keeps
    tensors, meta = pack_state_dict(g.state_dict())
    tensors["net.0.weight.__values"] = tensors["net.0.weight.__values"][:-1].clone()
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata={META_KEY: json.dumps(meta)})
    with pytest.raises(CorruptCheckpointError, match=r"corrupt checkpoint .*bad.*net\.0\.weight"):
        load_packed(bad)
    save_file({"x": torch.zeros(1)}, str(bad), metadata={META_KEY: "{not json"})
    with pytest.raises(CorruptCheckpointError, match="bad packed metadata"):
        load_packed(bad)


@pytest.mark.parametrize("sparsity", [0.0, 0.03, 0.5, 0.9])
def test_derive_keeps_the_smaller_encoding_exactly(sparsity: float) -> None:
    g = pruned("element", sparsity)
    with torch.no_grad():  # one kept exact 0.0 and one pruned −0.0: both need an exception / flip entry
        w, m = g.net[3].weight.view(-1), g.net[3].weight_mask.view(-1)
        w[(m == 1).nonzero()[0]] = 0.0
        if sparsity:
            w[(m == 0).nonzero()[0]] = -0.0
    state = g.state_dict()
    tensors, meta = pack_state_dict(state, derive=True)
    assert not any(k.endswith("weight_mask") for k in tensors)
    assert set(meta["packed"]) | set(meta["derived"]) == {k.removesuffix("_mask") for k in state if k.endswith("_mask")}
    if sparsity < 0.05:  # packing would cost more than the dense weight: kept as is, mask from its non-zeros
        assert meta["packed"] == {} and all(torch.equal(tensors[k], state[k]) for k in meta["derived"])
        assert tensors["net.3.weight.__flip"].numel() == (2 if sparsity else 1)
    else:
        assert meta["derived"] == []
    assert_bit_identical(unpack_state_dict(tensors, meta), state)


def test_derive_needs_a_mask_of_the_weights_dtype() -> None:
    layer = nn.Linear(8, 4)
    MaskSet.attach(layer).update(0.0)
    state = {**layer.state_dict(), "weight_mask": layer.weight_mask.double()}
    tensors, meta = pack_state_dict(state, derive=True)
    assert meta["derived"] == [] and set(meta["packed"]) == {"weight"}  # the float64 mask dtype is recorded
    assert_bit_identical(unpack_state_dict(tensors, meta), state)


def _exceptions(idx: torch.Tensor, n_values: int = 1) -> dict[str, torch.Tensor]:
    return {"net.0.weight.__exc_idx": idx, "net.0.weight.__exc_val": torch.ones(n_values)}


LIES = {  # name: (edit of (tensors, meta), expected message)
    "shape": (lambda t, m: m["packed"]["net.0.weight"].update(shape=[17, 32, 4, 4]), "bitmask"),
    "dtype": (lambda t, m: m["packed"]["net.0.weight"].update(dtype="torch.nosuch"), "unknown dtype"),
    "negative index": (lambda t, m: t.update(_exceptions(torch.tensor([-1]))), "out of range"),
    "index past the end": (lambda t, m: t.update(_exceptions(torch.tensor([10**9]))), "out of range"),
    "float index": (lambda t, m: t.update(_exceptions(torch.zeros(1))), "integer"),
    "count": (lambda t, m: t.update(_exceptions(torch.tensor([0, 1]))), "exception values"),
    "packed and derived": (lambda t, m: m.update(derived=["net.0.weight"]), "both packed and derived"),
    "not a dict": (lambda t, m: m.update(packed=[]), "corrupt"),
}


@pytest.mark.parametrize("lie", LIES)
def test_lying_packed_metadata_is_corrupt(tmp_path, lie: str) -> None:
    edit, match = LIES[lie]
    tensors, meta = pack_state_dict(pruned("element").state_dict())
    edit(tensors, meta)
    with pytest.raises(CorruptCheckpointError, match=match):
        unpack_state_dict(tensors, meta)
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata={META_KEY: json.dumps(meta)})
    with pytest.raises(CorruptCheckpointError, match=r"^corrupt checkpoint .*bad"):
        load_packed(bad)
