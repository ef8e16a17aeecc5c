"""distributed.py without a process group (every helper is a no-op, so a 1-process run is the plain run), mask digests,
and the resume helpers in io.py (metrics truncation). Multi-process behaviour: tests/integration/test_ddp.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from gancompress import distributed
from gancompress.errors import UserError
from gancompress.rundir import RunDir


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


def test_truncate_metrics_drops_rows_after_the_checkpoint_and_cut_lines(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    for step in (5, 10, 15):
        run.log_metrics(step, {"g/loss": float(step)})
    run.close()
    with open(run.path / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 20, "g/lo')  # the line a SIGKILL cut short
    run.truncate_metrics(10)
    rows = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10]
    RunDir(tmp_path / "empty").truncate_metrics(3)  # no metrics file yet: nothing to do
