"""Where a command's GAN comes from: ``--teacher RUN``, ``--generator`` / ``--discriminator`` weight files with their
arch JSON, ``--model file.py:factory`` (bring your own), or ``--dry-run``; and which generator / loss a run works on.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

from torch import nn

from gancompress.api import gan_info, load_gan, train_teacher
from gancompress.checkpoint import import_state_dict, load_state_dict_checked, save_module
from gancompress.config import RunCfg, TrainCfg
from gancompress.data import load_dataset
from gancompress.errors import UserError
from gancompress.experiments.options import resolve_config
from gancompress.families import GanLoss, get_family
from gancompress.families.user import USER_FAMILY, build_user_model, load_teacher
from gancompress.files import read_json
from gancompress.models import create_model_from_spec
from gancompress.rundir import RunDir, run_config

log = logging.getLogger("gancompress")


def load_teacher_from_args(
    args: argparse.Namespace,
) -> tuple[nn.Module, nn.Module | None, RunCfg, int | None, str | None]:
    """(g, d, base config, teacher steps, teacher dir) from --teacher, --generator/--discriminator or --dry-run.

    With ``--model file.py:factory`` the user's factory builds G and D and ``--generator`` holds bare weights.
    """
    g, d, base, steps, teacher_dir = load_teacher_any(args)
    if getattr(args, "model", None):  # config.json must say the run is a user GAN, not the default family
        base = replace(base, model=replace(base.model, family=USER_FAMILY))
    return g, d, base, steps, teacher_dir


def load_teacher_any(args: argparse.Namespace) -> tuple[nn.Module, nn.Module | None, RunCfg, int | None, str | None]:
    model = getattr(args, "model", None)
    if getattr(args, "teacher", None):
        if not Path(args.teacher).is_dir():
            what = "is a file, not a run directory" if Path(args.teacher).exists() else "does not exist"
            raise UserError(f"--teacher {args.teacher} {what}; give the directory `gancompress train` wrote")
        has_config = (Path(args.teacher) / "config.json").exists()  # run_config explains a directory there
        if not has_config and hasattr(args, "data") and not (args.data or args.config or args.dry_run):
            raise UserError(  # as in evaluate: the default dataset would silently replace the teacher's own
                f"{args.teacher} has no config.json, so its dataset and family are unknown; "
                "pass --data (and --data-dir, --family) or --config"
            )
        tcfg = run_config(args.teacher) if has_config else RunCfg()
        g, d = load_gan(args.teacher, "cpu", model=model)
        base = RunCfg(
            data=tcfg.data, model=tcfg.model, seed=tcfg.seed, train=TrainCfg(batch_size=tcfg.train.batch_size)
        )
        steps = gan_info(args.teacher).get("steps")
        return g, d, base, steps, str(Path(args.teacher).resolve())
    if model:
        user = load_teacher(model, args.generator, getattr(args, "discriminator", None), allow_random=args.dry_run)
        return user.generator, user.discriminator, RunCfg(), getattr(args, "teacher_steps", None), None
    if getattr(args, "generator", None):
        g = load_weights_file(args.generator, args.generator_arch)
        d = load_weights_file(args.discriminator, args.discriminator_arch) if args.discriminator else None
        family = (read_json(arch_path(args.generator, args.generator_arch)).get("family")) or "dcgan"
        base = RunCfg()
        base = replace(base, model=replace(base.model, family=family))
        return g, d, base, getattr(args, "teacher_steps", None), None
    if args.dry_run:
        cfg = resolve_config(args)
        g, d, _ = train_teacher(replace(cfg, train=replace(cfg.train, steps=2)), load_dataset(cfg.data, "train"))
        return g, d, cfg, 2, None
    raise UserError(
        "give a teacher: --teacher RUN_DIR, --generator FILE [--discriminator FILE] with arch JSON, "
        "or --model FILE.py:FACTORY with --generator FILE"
    )


def save_imported_teacher(g: nn.Module, d: nn.Module | None, run: RunDir, family: str) -> Path:
    """``<run>/teacher/``: the user's G (and D) as safetensors + arch JSON, what ``evaluate`` uses for fidelity."""
    path = run.path / "teacher"
    save_module(g, path, "generator", {"family": family, "role": "generator"})
    if d is not None:
        save_module(d, path, "discriminator", {"family": family, "role": "discriminator"})
    return path


def arch_path(weights: str, arch: str | None) -> Path:
    return Path(arch) if arch else Path(weights).with_suffix(".json")


def load_weights_file(weights: str, arch: str | None) -> nn.Module:
    """Build the architecture from its JSON spec and load user weights (safetensors or a weights-only .pt)."""
    spec_path = arch_path(weights, arch)
    if not spec_path.is_file():
        raise UserError(
            f"no architecture JSON for {weights}: expected {spec_path} (or pass --generator-arch/"
            '--discriminator-arch) with {"arch": name, "kwargs": {...}}'
        )
    module = create_model_from_spec(read_json(spec_path), spec_path)  # checks the spec's shape, then builds
    load_state_dict_checked(module, import_state_dict(weights), weights)
    return module


def loss_for(cfg: RunCfg, g: nn.Module, model: str | None = None) -> GanLoss:
    """The family's loss for ``g``, or with ``--model`` the GanLoss the user's factory returns."""
    if model:
        return build_user_model(model).loss
    check_not_user(cfg)
    return get_family(cfg.model.family).make_loss(g, None)


def check_not_user(cfg: RunCfg) -> None:
    """A run made with ``--model`` has no registered family to rebuild its loss: ask for the factory again."""
    if cfg.model.family == USER_FAMILY:
        raise UserError("this run's GAN was built by a user factory (model.family=user): pass --model FILE.py:FACTORY")


def select(
    cfg: RunCfg, g: nn.Module, d: nn.Module | None, model: str | None = None
) -> tuple[nn.Module, nn.Module | None, GanLoss]:
    """(generator, discriminator, loss) one run works on: ``Family.select`` (CycleGAN picks ``data.direction``'s G
    and the target domain's D; other families keep the pair), or with ``--model`` the pair and the user's GanLoss."""
    if model:
        return g, d, loss_for(cfg, g, model)
    check_not_user(cfg)
    return get_family(cfg.model.family).select(g, d, cfg)


def recorded_direction(cfg: RunCfg, g: nn.Module) -> RunCfg:
    """``cfg`` with ``data.direction`` set to the direction a single generator recorded (CycleGAN), so a compressed
    run is scored on the translation it performs (its test split's targets and sources depend on it)."""
    spec = getattr(g, "arch_spec", None)
    recorded = spec.get("kwargs", {}).get("direction") if isinstance(spec, dict) else None
    if recorded in ("a2b", "b2a") and recorded != cfg.data.direction:
        log.info(
            "%s translates %s: scoring that direction (not data.direction=%s)",
            spec["arch"],
            recorded,
            cfg.data.direction,
        )
        return replace(cfg, data=replace(cfg.data, direction=recorded))
    return cfg


def family_name(cfg: RunCfg, args: argparse.Namespace) -> str:
    return "user" if getattr(args, "model", None) else cfg.model.family
