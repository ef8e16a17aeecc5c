"""gancompress.training.state: optimizer states flatten to safetensors tensors + JSON and back, prefixes never
collide."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from gancompress.files import load_tensors, read_json, save_tensors, write_json
from gancompress.training.state import optimizer_from_tensors, optimizer_to_tensors

# Recent torch warns about pickle protocols when the restricted unpickler reads a hand-made file; not our concern.
pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol")


# ---------------------------------------------------------------------------------------------------- optimizers


def _adam_after_steps(seed: int = 0) -> tuple[nn.Module, torch.optim.Adam]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))
    model[2].bias.requires_grad_(False)  # a parameter without state
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2, betas=(0.5, 0.999))
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(8, 5)).square().mean().backward()
        opt.step()
    return model, opt


def test_optimizer_flatten_round_trip(tmp_path: Path) -> None:
    model, opt = _adam_after_steps()
    tensors, meta = optimizer_to_tensors(opt, "opt_g")
    assert tensors and all(k.startswith("opt_g.") for k in tensors)
    # through real files: safetensors + JSON, no pickle
    save_tensors(tensors, tmp_path / "opt.safetensors")
    write_json(tmp_path / "opt.json", meta)
    tensors2, meta2 = load_tensors(tmp_path / "opt.safetensors"), read_json(tmp_path / "opt.json")

    model2, _ = _adam_after_steps(seed=1)
    model2.load_state_dict(model.state_dict())
    opt2 = torch.optim.Adam([p for p in model2.parameters() if p.requires_grad], lr=0.5)
    optimizer_from_tensors(opt2, tensors2, meta2, "opt_g")

    sd1, sd2 = opt.state_dict(), opt2.state_dict()
    assert sd1["state"].keys() == sd2["state"].keys()
    for idx, st in sd1["state"].items():
        assert st.keys() == sd2["state"][idx].keys()
        for key, value in st.items():
            other = sd2["state"][idx][key]
            if isinstance(value, torch.Tensor):
                assert other.dtype == value.dtype and torch.equal(other, value), (idx, key)
            else:
                assert other == value, (idx, key)
    g1, g2 = sd1["param_groups"][0], sd2["param_groups"][0]
    assert g2["lr"] == g1["lr"] == 1e-2
    assert tuple(g2["betas"]) == tuple(g1["betas"]) == (0.5, 0.999)

    # one more identical step gives identical parameters
    x = torch.randn(8, 5)
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        m(x).square().mean().backward()
        o.step()
    for p1, p2 in zip(model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(p1, p2)


def test_optimizer_prefixes_do_not_collide() -> None:
    _, opt_a = _adam_after_steps(seed=0)
    _, opt_b = _adam_after_steps(seed=1)
    ta, ma = optimizer_to_tensors(opt_a, "opt_g")
    tb, _ = optimizer_to_tensors(opt_b, "opt_d")
    both = {**ta, **tb}
    model, _ = _adam_after_steps(seed=2)
    fresh = torch.optim.Adam([p for p in model.parameters() if p.requires_grad])
    optimizer_from_tensors(fresh, both, ma, "opt_g")
    assert torch.equal(fresh.state_dict()["state"][0]["exp_avg"], opt_a.state_dict()["state"][0]["exp_avg"])
