"""``gancompress compress``: compress a trained GAN (default: self_supervised, 50 % element, AGP); ``--evaluate`` scores
the student beside its teacher with the same evaluator and sampling seed.
"""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Any

from gancompress.cli.flags import common_flags, data_flags, model_flags
from gancompress.config import MethodCfg

if TYPE_CHECKING:
    from torch import nn

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compress", help="compress a trained GAN (default: self_supervised, 50 %% element, AGP)")
    p.set_defaults(func=run)
    common_flags(p)
    data_flags(p)
    p.add_argument("--teacher", help="teacher run directory (generator.* + discriminator.* + config.json)")
    model_flags(p)
    p.add_argument("--teacher-steps", type=int, help="the teacher's training steps (sets the default budget)")
    p.add_argument("--family", help="GAN family of the teacher (dcgan)")
    p.add_argument("--method", help="compression method (self_supervised, oneshot_finetune, …)")
    p.add_argument("--sparsity", type=float)
    p.add_argument("--granularity", help="element (default), vector, kernel, nm, filter, channel (removable channels)")
    p.add_argument("--schedule", help="agp or one_shot")
    p.add_argument("--importance", help="pruning criterion (channel: l2, magnitude, bn_scale, taylor, random)")
    p.add_argument("--target-macs", type=float, help="channel granularity: keep this fraction of the dense MACs")
    p.add_argument(
        "--target-speedup", type=float,
        help="channel granularity: measured speed-up over the teacher on this machine (prune.speed_backend, "
        "prune.speed_threads, prune.speed_batch: onnxruntime, 1, 16 by default)",
    )  # fmt: skip
    p.add_argument("--round-to", type=int, help="channel granularity: kept widths a multiple of this (e.g. 8)")
    p.add_argument("--steps", type=int, help="compression steps (default: 10 %% of the teacher's)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--evaluate", action="store_true", help="evaluate the result against the teacher afterwards")


def run(args: argparse.Namespace) -> int:
    # the library is imported here, not at the top: building the parser (`gancompress --help`) must not import torch
    from gancompress.api import compress, save
    from gancompress.cli.evaluate import make_evaluator
    from gancompress.cli.flags import emit, layer_table
    from gancompress.cli.runs import open_run, resume_config, start_run, writer
    from gancompress.cli.teacher import family_name, load_teacher_from_args, loss_for, save_imported_teacher, select
    from gancompress.data import load_dataset
    from gancompress.evaluate import check_evaluable
    from gancompress.experiments.options import resolve_config
    from gancompress.experiments.same_quality import ratios_to_teacher, scores_table
    from gancompress.families.user import UserModel, check_image_output
    from gancompress.files import read_json
    from gancompress.report.render import format_table
    from gancompress.training import distributed

    saved = resume_config(args)  # --resume: the run's config and inputs (--teacher …) come from the run itself
    g, d, base, teacher_steps, teacher_dir = load_teacher_from_args(args)
    cfg = saved or resolve_config(args, base)
    teacher_steps = args.teacher_steps or teacher_steps
    # what this run compresses: the pair as it is, or (CycleGAN) one direction's G, its D and a loss whose cycle term
    # uses the teacher's reverse G; bring-your-own GAN: the factory's GanLoss
    g, d, loss = select(cfg, g, d, args.model)
    with distributed.session(cfg.device) as device:  # torchrun: one process group for the job
        data = load_dataset(cfg.data, "train")  # bad data fails before the run directory is created
        if args.evaluate:  # a split too small to score is refused now, not after the training it would waste
            check_evaluable(load_dataset(cfg.data, cfg.eval.split))
        if args.model:
            check_image_output(UserModel(args.model, g, d, loss), *data.images.shape[1:3])
            warn_untrained_d(args, cfg.method, d)
        with open_run(args, "runs/compressed") as (run, resume_from):
            cfg = start_run(run, cfg, resume_from, args)
            res = compress(
                g,
                d,
                data,
                family=None if args.model else cfg.model.family,
                loss=loss,
                method=cfg.method,
                prune=cfg.prune,
                train=cfg.train,
                teacher_steps=teacher_steps,
                run=writer(run),
                seed=cfg.seed,
                device=device,
                resume_from=resume_from,
            )
        if not distributed.is_main():
            return 0
    save(res, run.path, family=family_name(cfg, args))
    if teacher_dir is None:  # imported weights (--generator): re-saved as safetensors, so the run is self-contained
        teacher_dir = str(save_imported_teacher(g, d, run, family_name(cfg, args)).resolve())
    run.write_json("compress.json", {**read_json(run.path / "compress.json"), "teacher": teacher_dir})
    run.close()
    payload: dict[str, Any] = {"run": str(run.path), **res.summary()}
    text = layer_table(res.sparsity) + "\n\n" + format_table([res.summary()], list(res.summary()))
    if args.evaluate:  # the student and the teacher, same evaluator and inputs: "is it the same quality?"
        ev, student_loss = make_evaluator(cfg), loss_for(cfg, res.generator, args.model)
        scores = ev.evaluate(res.generator, student_loss, teacher=g, seed=cfg.seed, metrics=cfg.eval.metrics)
        scores["teacher"] = ev.evaluate(g, student_loss, seed=cfg.seed, metrics=cfg.eval.metrics)
        scores["ratios"] = ratios_to_teacher(scores, scores["teacher"])
        run.write_json("eval.json", scores)
        payload["eval"] = scores
        text += "\n\n" + scores_table({str(run.path): scores})
    if "measured_speedup" in payload:
        text += (f"\n\nmeasured {payload['measured_speedup']:.2f}× faster than the teacher "
                 f"(target {payload['target_speedup']:.2f}×; {cfg.prune.speed_backend}, {cfg.prune.speed_threads} "
                 f"thread(s), batch {cfg.prune.speed_batch})")  # fmt: skip
    if "macs_fraction" in payload:
        text += (f"\n\nchannel pruning keeps {payload['macs_fraction']:.1%} of the dense MACs once the channels are "
                 f"removed: gancompress export {run.path} --format physical")  # fmt: skip
    emit(args, payload, text + f"\n\n→ {run.path}")
    return 0


def warn_untrained_d(args: Any, method_cfg: MethodCfg, d: nn.Module | None) -> None:
    """``--model`` with ``--generator`` but no ``--discriminator``: D_O is the factory's D as built.

    docs/method.md §1: D_O is the *trained* discriminator, fine-tuned; a freshly initialised one breaks the method's
    premise.
    Only a warning: the factory may load trained weights itself.
    """
    from gancompress.methods import create_method  # the library: imported when the command runs

    given = {k: getattr(args, k, None) for k in ("model", "generator", "discriminator", "teacher")}
    if not (given["model"] and given["generator"]) or given["discriminator"] or given["teacher"] or d is None:
        return
    method = create_method(method_cfg)
    if method.d_init == "orig":  # rows that re-initialise D (or use none) do not depend on its weights
        log.warning(
            "no --discriminator given: the factory's discriminator is used as D_O as built; %s assumes a trained D "
            "(pass --discriminator weights)",
            method.name,
        )
