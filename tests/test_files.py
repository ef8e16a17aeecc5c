"""gancompress.files: atomic JSON and safetensors files; devices, directories, huge and deeply nested files are refused;
saved tensors get the umask mode.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from gancompress.checkpoint import import_state_dict
from gancompress.errors import CorruptCheckpointError, UserError
from gancompress.files import MAX_JSON_BYTES, read_json, save_tensors, write_json

# ------------------------------------------------------------------------------------------------ F4: arch specs


def test_deeply_nested_json_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(CorruptCheckpointError, match="nested too deeply"):
        read_json(path)


# --------------------------------------------------------------------------------------------- F6: special files


def test_read_json_refuses_a_device(tmp_path: Path) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    link = tmp_path / "generator.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(UserError, match="not a regular file"):
        read_json(link)
    weights = tmp_path / "w.pt"
    weights.symlink_to("/dev/zero")
    with pytest.raises(UserError, match="not a regular file"):
        import_state_dict(weights)


def test_read_json_refuses_a_directory_and_a_huge_file(tmp_path: Path) -> None:
    (tmp_path / "spec.json").mkdir()
    with pytest.raises(UserError, match=r"spec\.json is a directory, not a file"):
        read_json(tmp_path / "spec.json")
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:  # sparse: no disk used
        fh.truncate(MAX_JSON_BYTES + 1)
    with pytest.raises(UserError, match=r"big\.json is \d+ MB, too large for a JSON spec"):
        read_json(big)
    with pytest.raises(UserError, match="file not found"):
        read_json(tmp_path / "absent.json")


# --------------------------------------------------------------------------------------------- F14: .pt messages


def test_saved_tensors_get_the_umask_mode_not_0600(tmp_path: Path) -> None:

    umask = os.umask(0o022)
    try:
        path = save_tensors({"w": torch.zeros(2)}, tmp_path / "g.safetensors")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644  # was 0600, unlike the run's JSON files


# Recent torch warns about pickle protocols when the restricted unpickler reads a hand-made file; not our concern.
pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol")


# ------------------------------------------------------------------------------------- save_module / load_module


def test_read_json_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        read_json(tmp_path / "nope.json")


def test_write_json_atomic_and_tensor_values(tmp_path: Path) -> None:
    path = write_json(tmp_path / "sub" / "a.json", {"t": torch.tensor([1.0, 2.0]), "p": tmp_path, "s": (1, 2)})
    assert read_json(path) == {"t": [1.0, 2.0], "p": str(tmp_path), "s": [1, 2]}
    assert not list(path.parent.glob("*.tmp"))
