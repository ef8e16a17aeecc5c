"""Bring your own GAN: a generator, discriminator and loss written in plain PyTorch, compressed by gancompress.

Nothing here comes from ``gancompress.models``: the generator upsamples (nearest) + convolves with LeakyReLU and no
BatchNorm, the discriminator is a strided conv net, and the loss is the hinge loss (not DCGAN's BCE). The script

1. trains this GAN briefly on scikit-learn's digits (16×16) — the "teacher", G_O and D_O;
2. compresses G_O with ``gc.compress(..., method="self_supervised")`` to 50 % element sparsity (the loss terms come
   from the ``GanLoss`` subclass below, so no gancompress family is involved);
3. evaluates teacher and student (FID / class coverage / fidelity on the held-out split), saves both, and prints a
   summary plus the equivalent command line (``gancompress compress --model examples/byo_model.py:build …``).

Run: ``python examples/byo_gan.py`` (≈ 1 min on one CPU core); ``--steps 3 --compress-steps 3`` for a smoke test.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

import gancompress as gc

NZ = 32


class UpsampleGenerator(nn.Module):
    """z (B, nz) → Linear → 4×4 → [nearest ×2, 3×3 conv, LeakyReLU] ×2 → 3×3 conv → tanh: (B, 1, 16, 16)."""

    def __init__(self, nz: int = NZ, width: int = 16, channels: int = 1) -> None:
        super().__init__()
        self.width = width
        self.fc = nn.Linear(nz, width * 2 * 4 * 4)
        self.body = nn.Sequential(
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(width * 2, width, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(width, width, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, channels, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.fc(z).view(z.shape[0], self.width * 2, 4, 4))


class ConvDiscriminator(nn.Module):
    """(B, 1, 16, 16) → two strided convs with LeakyReLU → Linear → one score per image."""

    def __init__(self, width: int = 16, channels: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, width * 2, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(width * 2 * 4 * 4, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


class HingeLoss(gc.GanLoss):
    """Hinge GAN loss with named, per-sample terms: G ``{"gen"}``, D ``{"real", "fake"}``; inputs are N(0, I)."""

    g_weights: ClassVar[dict[str, float]] = {"gen": 1.0}
    d_weights: ClassVar[dict[str, float]] = {"real": 1.0, "fake": 1.0}
    score_kind = "critic"  # D's output is an unbounded score, not a logit (used by gancompress's diagnostics)

    def __init__(self, nz: int = NZ) -> None:
        self.nz = nz

    def generator_input(self, batch):
        real = batch["real"]
        return (torch.randn(real.shape[0], self.nz, device=real.device),)

    def sample_input(self, n, generator, device):
        return (torch.randn(n, self.nz, generator=generator).to(device),)

    def generator_terms(self, g_out, batch, d):
        return {"gen": -d(g_out)}

    def discriminator_terms(self, g_out, batch, d, *, fake_only=False):
        terms = {"fake": F.relu(1.0 + d(g_out))}
        if not fake_only:
            terms["real"] = F.relu(1.0 - d(batch["real"]))
        return terms


def build() -> tuple[nn.Module, nn.Module, gc.GanLoss]:
    """The factory ``gancompress … --model FILE.py:build`` calls: untrained (generator, discriminator, loss)."""
    return UpsampleGenerator(), ConvDiscriminator(), HingeLoss()


def train_teacher(g: nn.Module, d: nn.Module, loss: HingeLoss, data: gc.ImageDataset, steps: int, batch: int) -> None:
    """A plain PyTorch GAN loop — whatever you already use to train your GAN."""
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.0, 0.9))
    for step in range(steps):
        idx = torch.randint(len(data), (batch,))
        b = {"real": data.images[idx]}
        fake = g(*loss.generator_input(b))
        d_terms = loss.discriminator_terms(fake.detach(), b, d)
        opt_d.zero_grad()
        sum(t.mean() for t in d_terms.values()).backward()
        opt_d.step()
        g_terms = loss.generator_terms(fake, b, d)
        opt_g.zero_grad()
        sum(t.mean() for t in g_terms.values()).backward()
        opt_g.step()
        if step % max(1, steps // 5) == 0 or step == steps - 1:
            print(
                f"teacher step {step:4d}  "
                + "  ".join(f"{k} {v.mean():.3f}" for k, v in {**d_terms, **g_terms}.items())
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500, help="teacher training steps")
    parser.add_argument("--compress-steps", type=int, default=500, help="self-supervised compression steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-samples", type=int, default=1000, help="generated samples per evaluation")
    parser.add_argument("--out", default="runs/byo_gan", help="output directory (replaced if it exists)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for nets this small)")
    args = parser.parse_args()
    # tiny convolutions gain nothing from intra-op threads, and on a busy machine extra threads spin-wait
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()

    data_cfg = gc.DataCfg(name="digits", image_size=16)
    train, test = gc.load_dataset(data_cfg, "train"), gc.load_dataset(data_cfg, "test")
    g, d, loss = build()
    train_teacher(g, d, loss, train, args.steps, args.batch_size)
    g.eval()
    seconds = {"teacher": time.perf_counter() - t0}

    res = gc.compress(
        g,
        d,
        train,
        family=None,
        loss=loss,  # bring your own GAN: the terms come from HingeLoss, no built-in family
        method="self_supervised",
        prune=gc.PruneCfg(granularity="element", sparsity=0.5),
        train=gc.TrainCfg(steps=args.compress_steps, batch_size=args.batch_size),
        seed=args.seed,
    )
    seconds["compress"] = time.perf_counter() - t0 - sum(seconds.values())

    from gancompress.evaluate import evaluate

    common = {"loss": HingeLoss(), "train_data": train, "num_samples": args.num_samples, "seed": args.seed}
    teacher_scores = evaluate(g, test, metrics=["fid", "class_coverage"], **common)
    student_scores = evaluate(res.generator, test, metrics=["fid", "class_coverage", "fidelity"], teacher=g, **common)
    seconds["evaluate"] = time.perf_counter() - t0 - sum(seconds.values())

    # gc.save writes safetensors + generator.json; the JSON records how to rebuild the architecture: with your file
    # (gancompress never runs code found in a checkpoint — the CLI needs `--model examples/byo_model.py:build` again)
    model_spec = f"{Path(__file__).with_name('byo_model.py')}:build"
    for module in (res.generator, res.discriminator):
        module.arch_spec = {"arch": "user", "model": model_spec}
    out = gc.save(res, args.out, family="user", overwrite=True)
    save_file(g.state_dict(), str(out / "teacher_generator.safetensors"))
    save_file(d.state_dict(), str(out / "teacher_discriminator.safetensors"))

    keys = ("fid", "class_coverage", "fidelity_psnr", "sparsity", "nonzero", "params")
    summary = {
        "teacher": {k: teacher_scores[k] for k in keys if k in teacher_scores},
        "compressed": {k: student_scores[k] for k in keys if k in student_scores},
        "seconds": {k: round(v, 1) for k, v in {**seconds, "total": time.perf_counter() - t0}.items()},
        "out": str(out),
    }
    (out / "byo_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(
        "\nthe same compression from the command line:\n"
        f"  gancompress compress --model examples/byo_model.py:build --generator {out}/teacher_generator.safetensors "
        f"--discriminator {out}/teacher_discriminator.safetensors --data digits --set data.image_size=16 "
        "--sparsity 0.5 --steps 500 --out runs/byo_cli"
    )


if __name__ == "__main__":
    main()
