"""training/distributed.py: without a process group every helper is a no-op (a 1-process run is the plain run); mask
digests; and multi-process runs through torchrun (2 CPU processes, gloo): the CLI works, masks agree, rank 0 alone
writes.

Rank > 0 is watched with a Python audit hook (``sitecustomize`` on ``PYTHONPATH``) that records every file the process
opens for writing, creates, renames or deletes under the run directory; it must record nothing. (safetensors writes
from Rust, but always to a temporary name that :func:`gancompress.files.save_tensors` then renames — which is seen.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file
from torch import nn

from gancompress.errors import UserError
from gancompress.training import distributed
from tests.clirun import gancompress, run_cmd


def test_no_process_group_means_one_plain_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.init("cpu") == "cpu"
    assert not distributed.is_distributed()
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    assert distributed.shard() == {"rank": 0, "world_size": 1}
    assert distributed.mask_generator(5) is None  # the global RNG, exactly as without torchrun
    assert distributed.gather_rng_states() == {}
    assert distributed.all_true(True) and not distributed.all_true(False)
    assert distributed.mean_scalars({"a": 1.0}) == {"a": 1.0}


def test_world_size_one_does_not_create_a_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "1")  # torchrun --nproc_per_node=1
    with distributed.session("cpu") as device:
        assert device == "cpu" and not torch.distributed.is_initialized()


def test_helpers_leave_tensors_alone_in_one_process() -> None:
    layer = nn.Linear(3, 2)
    layer.weight.grad = torch.ones_like(layer.weight)
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    distributed.average_gradients(layer.parameters())
    distributed.broadcast_module(layer)
    assert torch.equal(layer.weight.grad, torch.ones_like(layer.weight))
    assert all(torch.equal(v, before[k]) for k, v in layer.state_dict().items())
    distributed.barrier()
    torch.manual_seed(3)
    distributed.seed_rank()  # rank 0 keeps its stream
    assert torch.initial_seed() == 3


def test_on_main_runs_once_and_passes_errors_through() -> None:
    assert distributed.on_main(lambda: ("path", True)) == ("path", True)
    with pytest.raises(UserError, match="bad"):
        distributed.on_main(lambda: (_ for _ in ()).throw(UserError("bad")))


def test_mask_digest_covers_every_mask_buffer_only() -> None:
    layer = nn.Conv2d(2, 4, 3)
    layer.register_buffer("weight_mask", torch.ones_like(layer.weight))
    layer.register_buffer("bias_mask", torch.ones(4))
    first = distributed.mask_digest(layer)
    with torch.no_grad():
        layer.weight.mul_(2)  # weights are not part of the digest
    assert distributed.mask_digest(layer) == first
    layer.bias_mask[1] = 0
    second = distributed.mask_digest(layer)
    assert second != first
    layer.weight_mask[0, 0, 0, 0] = 0
    assert distributed.mask_digest(layer) not in (first, second)
    assert distributed.check_identical_masks(layer, step=0) == distributed.mask_digest(layer)


def test_restore_rank_rng_refuses_another_world_size() -> None:
    distributed.restore_rank_rng({}, 1)  # same size: nothing to do on rank 0
    with pytest.raises(UserError, match=r"2-process run.*same number of processes"):
        distributed.restore_rank_rng({}, 2)


pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="torch.distributed with gloo is not available"
)


AUDIT = textwrap.dedent(
    """
    import os, sys
    _rank = os.environ.get("RANK")
    _watch = os.environ.get("AUDIT_WATCH")
    if _rank not in (None, "0") and _watch:
        _log = open(os.path.join(os.environ["AUDIT_DIR"], f"rank{_rank}.log"), "a", buffering=1)
        _write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

        def _hook(event, args):
            if event == "open":
                path, mode, flags = args
                writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                    mode is None and isinstance(flags, int) and flags & _write_flags
                )
            elif event in ("os.rename", "os.mkdir", "os.remove", "os.rmdir", "shutil.rmtree", "shutil.move"):
                path, writes = args[1] if event == "os.rename" else args[0], True
            else:
                return
            if writes and isinstance(path, (str, bytes, os.PathLike)):
                path = os.path.abspath(os.fsdecode(path))
                if path.startswith(_watch):
                    _log.write(f"{event} {path}\\n")

        sys.addaudithook(_hook)
    """
)


def _env(tmp_path: Path, watch: Path | None = None) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(AUDIT)
    audit = tmp_path / "audit"
    audit.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONWARNINGS": "ignore",
        "GANCOMPRESS_CACHE": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "AUDIT_DIR": str(audit),
    }
    if watch is not None:
        env["AUDIT_WATCH"] = str(watch.resolve())
    return env


def torchrun(args: list[str], env: dict[str, str], nproc: int = 2) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", f"--nproc_per_node={nproc}"]
    return run_cmd([*cmd, *args], env, timeout=120)


def test_compress_with_two_processes(tmp_path: Path) -> None:
    env = _env(tmp_path)
    teacher = tmp_path / "teacher"
    proc = gancompress(["train", "--dry-run", "--out", str(teacher), "-q"], env, timeout=120)
    assert proc.returncode == 0, proc.stderr

    out = tmp_path / "ddp"
    env = _env(tmp_path, watch=out)
    sets = ["train.batch_size=16", "train.log_every=2", "train.ckpt_every=6", "prune.update_every=2"]
    args = ["-m", "gancompress", "compress", "--teacher", str(teacher), "--steps", "12", "--json"]
    args += [x for s in sets for x in ("--set", s)]
    proc = torchrun([*args, "--out", str(out)], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr

    payload = json.loads(proc.stdout)  # rank 0 alone prints the result
    assert payload["steps"] == 12 and payload["sparsity"] == pytest.approx(0.5, abs=1e-6)
    # rank 0 compared every rank's mask digest at each AGP update (steps 0, 2, 4, 6) and found them identical
    checks = [line for line in proc.stderr.splitlines() if "masks identical on 2 ranks" in line]
    assert len(checks) == 4, proc.stderr[-3000:]
    assert "differ" not in proc.stderr

    # rank 0 alone logged and wrote: one metrics row per logged step, the world size recorded, rank 1 wrote nothing
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6, 8, 10, 12]
    assert json.loads((out / "env.json").read_text())["world_size"] == 2
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_12", "step_6"]
    state = json.loads((out / "checkpoints" / "step_12" / "state.json").read_text())
    assert state["world_size"] == 2
    audit = tmp_path / "audit" / "rank1.log"
    assert audit.parent.is_dir()
    assert not audit.exists() or audit.read_text() == "", f"rank 1 wrote into the run directory:\n{audit.read_text()}"
    assert (out / "generator.safetensors").is_file() and (out / "compress.json").is_file()

    # resume from the mid-way checkpoint (every rank's RNG stream, the shared data position): the same final weights
    resumed = tmp_path / "resumed"
    shutil.copytree(out, resumed)
    shutil.rmtree(resumed / "checkpoints" / "step_12")
    for name in ("generator.safetensors", "discriminator.safetensors", "compress.json"):
        (resumed / name).unlink()
    proc = torchrun([*args, "--out", str(resumed), "--resume"], _env(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("generator", "discriminator"):
        a, b = load_file(str(out / f"{name}.safetensors")), load_file(str(resumed / f"{name}.safetensors"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"{name} differs after resume"
    assert (resumed / "metrics.jsonl").read_text() == (out / "metrics.jsonl").read_text()


MISMATCH = textwrap.dedent(
    """
    import sys
    import torch, torch.distributed as dist
    from torch import nn
    from gancompress.training import distributed
    from gancompress.errors import DistributedError

    distributed.init("cpu")
    layer = nn.Linear(4, 4)
    layer.register_buffer("weight_mask", torch.ones(4, 4))
    distributed.check_identical_masks(layer, step=0)  # identical: passes
    if distributed.rank() == 1:
        layer.weight_mask[0, 0] = 0.0
    try:
        distributed.check_identical_masks(layer, step=3)
    except DistributedError as exc:
        # One file per rank: two processes printing to one shared pipe can interleave their lines.
        with open(f"{sys.argv[1]}/rank{distributed.rank()}.txt", "w") as out:
            out.write(f"rank {distributed.rank()}: {exc}\\n")
    else:
        raise SystemExit("no error")
    distributed.teardown()
    """
)


def test_mask_mismatch_across_ranks_raises_on_every_rank(tmp_path: Path) -> None:
    script = tmp_path / "mismatch.py"
    script.write_text(MISMATCH)
    outdir = tmp_path / "out"
    outdir.mkdir()
    proc = torchrun([str(script), str(outdir)], _env(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [(outdir / f"rank{r}.txt").read_text().strip() for r in (0, 1)]
    assert all(line.startswith(f"rank {r}: ") for r, line in enumerate(lines)), lines
    for line in lines:
        assert "masks differ across ranks at step 3" in line and "ranks [1]" in line
