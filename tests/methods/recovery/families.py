"""Every built-in family on its file-free stand-in data at tiny widths, selected as ``compress`` sees it (shared with
tests/methods/test_frozen.py), for the recovery terms' "0 at G_C = G_O" checks."""

from __future__ import annotations

import torch
from torch import nn

import gancompress as gc
from gancompress.config import apply_dict
from gancompress.experiments.tasks import get_task

FAMILIES = {
    "dcgan": ("dcgan", {"data": {"name": "fake", "image_size": 16}, "model": {"nz": 8, "ngf": 8, "ndf": 8}}),
    "pix2pix": (
        "pix2pix",
        {"data": {"name": "fake_edges", "image_size": 16}, "model": {"ngf": 8, "ndf": 8, "g_kwargs": {"dropout": 0.5}}},
    ),
    "cyclegan": ("cyclegan_a2b", {"data": {"image_size": 16}, "model": {"ngf": 4, "ndf": 4}}),
    "stargan": ("stargan", {"data": {"image_size": 16}, "model": {"ngf": 4, "ndf": 4}}),
    "srgan": ("srgan", {"data": {"name": "fake_sr", "image_size": 16}, "model": {"ngf": 8, "ndf": 4}}),
}


def family_setup(family: str) -> tuple[gc.RunCfg, gc.ImageDataset, nn.Module, nn.Module, gc.GanLoss]:
    """(cfg, train data, G_O, D_O, loss) of a freshly built pair, weights moved off their initialisation."""
    task, overrides = FAMILIES[family]
    cfg = apply_dict(get_task(task).run_config("quick", dry_run=True), overrides)
    data = gc.load_dataset(cfg.data, "train")
    torch.manual_seed(0)
    fam = gc.get_family(cfg.model.family)
    g, d = fam.build(cfg.model, cfg.data)
    with torch.no_grad():
        for p in [*g.parameters(), *d.parameters()]:
            p.add_(0.02 * torch.randn_like(p))
    g, d, loss = fam.select(g, d, cfg)
    loss.bind_eval_data(data)
    return cfg, data, g, d, loss
