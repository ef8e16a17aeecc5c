"""Table 1 row j (adversarial_distill): G_O's outputs play the real images through ``GanLoss.teacher_as_real``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import gancompress as gc
from gancompress.config import DataCfg, ModelCfg
from gancompress.data.loader import InfiniteLoader
from gancompress.families import get_family

DATA = DataCfg(name="fake", image_size=16, classes=(0, 3, 6))


MODEL = ModelCfg(family="stargan", ngf=4, ndf=4, g_kwargs={"n_res": 1})


def test_stargan_teacher_outputs_are_real_images_of_the_target_domain() -> None:
    torch.manual_seed(0)
    fam = get_family("stargan")
    g_o, d = fam.build(MODEL, DATA)
    g_c, _ = fam.build(MODEL, DATA)
    loss = fam.make_loss(g_c, d)
    batch = InfiniteLoader(gc.load_dataset(DATA, "train"), 8, seed=0).next_batch()
    x = loss.generator_input(batch)
    with torch.no_grad():
        out_o, out_c = g_o(*x), g_c(*x)
    tb = loss.teacher_as_real(batch, out_o)
    target = batch["target_domain"]
    assert torch.equal(tb["label"], torch.tensor([0, 3, 6])[target])  # G_O(x, c′) shows domain c′
    assert torch.equal(tb["real"], out_o) and torch.equal(tb["rec_source"], batch["real"])
    # D's classification term on the "real" (teacher) images is CE against c′, not against x's own domain
    with torch.no_grad():
        _, cls_real = d(out_o)
        terms = loss.discriminator_terms(out_c, tb, d)
    assert torch.allclose(terms["cls"], F.cross_entropy(cls_real, target, reduction="none"))
    # the student's reconstruction still returns to the input x of its own domain: same as on the plain batch
    with torch.no_grad():
        rec_tb = loss.generator_terms(out_c, tb, d)["rec"]
        rec_plain = loss.generator_terms(out_c, batch, d)["rec"]
    assert torch.allclose(rec_tb, rec_plain)


def test_default_teacher_as_real_replaces_only_real() -> None:
    fam = get_family("dcgan")
    g, d = fam.build(ModelCfg(family="dcgan", nz=8, ngf=4, ndf=4), DataCfg(name="fake", image_size=16))
    loss = fam.make_loss(g, d)
    batch = {"real": torch.zeros(2, 1, 16, 16), "label": torch.tensor([1, 2])}
    tb = loss.teacher_as_real(batch, torch.ones(2, 1, 16, 16))
    assert torch.equal(tb["real"], torch.ones(2, 1, 16, 16)) and torch.equal(tb["label"], batch["label"])
    assert torch.equal(batch["real"], torch.zeros(2, 1, 16, 16))  # the loader's batch is not modified
