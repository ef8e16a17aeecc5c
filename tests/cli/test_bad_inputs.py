"""docs/architecture.md "Bad input", row by row, through the CLI in a subprocess.

A bad input gives exit code 2, exactly one line on stderr (``error: …`` saying what to do; ``-q`` silences the INFO
log), no traceback, and nothing in the output directory. Two rows are not usage errors: a NaN/Inf loss is a failure
(exit 1) that keeps the last good checkpoint, and "SIGKILL mid-run, then --resume" is tests/cli/test_resume.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from gancompress.rundir import load_checkpoint
from tests.clirun import error_line, gancompress

run = partial(gancompress, quiet=True)  # every CLI call here ends in -q


np_rng = np.random.default_rng(0)


def files(path: Path) -> dict[str, int]:
    """Every file under ``path`` with its mtime (ns): a snapshot to compare before / after."""
    return {str(p.relative_to(path)): p.stat().st_mtime_ns for p in path.rglob("*")} if path.exists() else {}


def assert_bad_input(
    proc: subprocess.CompletedProcess[str], out: Path, *fragments: str, before: dict[str, int] | None = None
) -> str:
    """Exit 2, one ``error:`` line holding ``fragments``, no traceback, ``out`` untouched. Returns the line."""
    line = error_line(proc, *fragments)
    assert files(out) == (before or {}), f"{out} was written to"
    if before is None:
        assert not out.exists()
    return line


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    out = tmp_path_factory.mktemp("runs") / "teacher"
    proc = run(["train", "--dry-run", "--out", str(out)], env)
    assert proc.returncode == 0, proc.stderr
    return out


def user_weights(teacher: Path, tmp_path: Path, name: str = "generator") -> tuple[Path, dict[str, torch.Tensor]]:
    """The teacher's tensors as a user's plain ``torch.save(state_dict)`` file with its arch JSON next to it."""
    state = load_file(str(teacher / f"{name}.safetensors"))
    path = tmp_path / f"{name[0]}.pt"
    torch.save(state, path)
    path.with_suffix(".json").write_text((teacher / f"{name}.json").read_text())
    return path, state


# ------------------------------------------------------------------------- row: pickled model / pickle with code


def test_whole_pickled_model_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    from gancompress.models import create_model

    spec = {"arch": "dcgan_generator", "kwargs": {"nz": 16, "ngf": 8}}
    torch.save(create_model(spec["arch"], **spec["kwargs"]), tmp_path / "g.pt")  # the whole nn.Module, pickled
    (tmp_path / "g.json").write_text(json.dumps(spec))
    out = tmp_path / "x"
    proc = run(["compress", "--generator", str(tmp_path / "g.pt"), "--dry-run", "--out", str(out)], env)
    assert_bad_input(proc, out, "refused", "g.pt", "torch.save(your_model.state_dict()")


def test_pickle_with_code_is_refused_without_running_it(tmp_path: Path, env: dict[str, str]) -> None:
    marker = tmp_path / "pwned"
    payload = tmp_path / "g.pt"
    code = (
        f"import os, pickle\nclass P:\n    def __reduce__(self):\n        return (os.system, ('touch {marker}',))\n"
        f"pickle.dump({{'net.0.weight': P()}}, open({str(payload)!r}, 'wb'), protocol=2)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    (tmp_path / "g.json").write_text(json.dumps({"arch": "dcgan_generator", "kwargs": {"nz": 16, "ngf": 8}}))
    out = tmp_path / "x"
    proc = run(["compress", "--generator", str(payload), "--out", str(out), "--dry-run"], env)
    assert_bad_input(proc, out, "refused", "state_dict")
    assert not marker.exists()


# ------------------------------------------------------------------------------------- row: plain .pt state_dict


def test_plain_state_dict_is_accepted_and_resaved_as_safetensors(
    teacher: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    g_path, g_state = user_weights(teacher, tmp_path, "generator")
    d_path, _ = user_weights(teacher, tmp_path, "discriminator")
    out = tmp_path / "x"
    proc = run(
        ["compress", "--generator", str(g_path), "--discriminator", str(d_path), "--dry-run", "--out", str(out)], env
    )
    assert proc.returncode == 0, proc.stderr
    resaved = load_file(str(out / "teacher" / "generator.safetensors"))
    assert resaved.keys() == g_state.keys() and all(torch.equal(resaved[k], g_state[k]) for k in g_state)
    assert (out / "teacher" / "discriminator.safetensors").is_file()
    assert json.loads((out / "compress.json").read_text())["teacher"] == str((out / "teacher").resolve())
    assert (out / "generator.safetensors").is_file()


# -------------------------------------------------------------------------------- row: truncated / corrupt files


def test_truncated_teacher_safetensors(teacher: Path, tmp_path: Path, env: dict[str, str]) -> None:
    broken = tmp_path / "teacher"
    broken.mkdir()
    for name in ("generator.json", "discriminator.json", "discriminator.safetensors", "config.json"):
        (broken / name).write_bytes((teacher / name).read_bytes())
    (broken / "generator.safetensors").write_bytes((teacher / "generator.safetensors").read_bytes()[:100])
    out = tmp_path / "x"
    proc = run(["compress", "--teacher", str(broken), "--dry-run", "--out", str(out)], env)
    assert_bad_input(proc, out, "corrupt checkpoint", str(broken / "generator.safetensors"))


def test_truncated_pt_state_dict(teacher: Path, tmp_path: Path, env: dict[str, str]) -> None:
    g_path, _ = user_weights(teacher, tmp_path)
    g_path.write_bytes(g_path.read_bytes()[: g_path.stat().st_size // 2])
    out = tmp_path / "x"
    proc = run(["compress", "--generator", str(g_path), "--dry-run", "--out", str(out)], env)
    assert_bad_input(proc, out, "corrupt checkpoint", str(g_path))


def test_corrupt_resume_checkpoint(teacher: Path, tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "x"
    base = ["compress", "--teacher", str(teacher), "--steps", "4", "--set", "train.ckpt_every=2", "--out", str(out)]
    assert run(base, env).returncode == 0
    state = out / "checkpoints" / "step_4" / "state.safetensors"
    state.write_bytes(state.read_bytes()[:-64])
    before = files(out)
    assert_bad_input(run([*base, "--resume"], env), out, "corrupt checkpoint", str(state), before=before)


# ---------------------------------------------------------------------------------- row: weights vs architecture


def test_weights_not_matching_architecture(teacher: Path, tmp_path: Path, env: dict[str, str]) -> None:
    state = load_file(str(teacher / "generator.safetensors"))
    state["net.0.weight"] = torch.zeros(3, 3)
    save_file(state, str(tmp_path / "g.safetensors"))
    (tmp_path / "g.json").write_text((teacher / "generator.json").read_text())
    out = tmp_path / "x"
    proc = run(["compress", "--generator", str(tmp_path / "g.safetensors"), "--out", str(out)], env)
    shape = tuple(load_file(str(teacher / "generator.safetensors"))["net.0.weight"].shape)
    assert_bad_input(proc, out, "net.0.weight", "(3, 3)", str(shape))


# ----------------------------------------------------------------------------- row: bad sparsity / unknown names


@pytest.mark.parametrize("value", ["1.0", "-0.1"])
def test_sparsity_outside_unit_interval(teacher: Path, tmp_path: Path, env: dict[str, str], value: str) -> None:
    out = tmp_path / "x"
    proc = run(["compress", "--teacher", str(teacher), "--dry-run", "--sparsity", value, "--out", str(out)], env)
    assert_bad_input(proc, out, "sparsity must be in [0, 1)", value)


@pytest.mark.parametrize(
    ("flag", "value", "valid"),
    [
        ("--method", "self_supervise", ["self_supervised", "oneshot_finetune"]),
        ("--granularity", "elementt", ["element", "filter"]),
        ("--family", "stylegan9", ["dcgan"]),
        ("--schedule", "linear", ["agp", "one_shot"]),
    ],
)
def test_unknown_names_list_valid_values(
    teacher: Path, tmp_path: Path, env: dict[str, str], flag: str, value: str, valid: list[str]
) -> None:
    out = tmp_path / "x"
    proc = run(["compress", "--teacher", str(teacher), "--dry-run", flag, value, "--out", str(out)], env)
    assert_bad_input(proc, out, "valid values", value, *valid)


# --------------------------------------------------------------------------------------- row: N:M on a bad layer


def test_nm_on_layer_with_input_size_not_multiple_of_m(tmp_path: Path, env: dict[str, str]) -> None:
    teacher = tmp_path / "teacher"
    small = ["--set", "model.nz=10", "--set", "model.ngf=8", "--set", "model.ndf=8"]  # net.0 has 10 input channels
    proc = run(["train", "--data", "fake", "--steps", "1", "--batch-size", "8", *small, "--out", str(teacher)], env)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "x"
    proc = run(["compress", "--teacher", str(teacher), "--granularity", "2:4", "--steps", "2", "--out", str(out)], env)
    assert_bad_input(proc, out, "'net.0'", "10 input channels", "multiple of 4", "'element'", "prune.exclude")


# -------------------------------------------------------------------------------------------- row: image folders


def folder_args(folder: Path) -> list[str]:
    return ["--data", "image_folder", "--data-dir", str(folder)]


def test_empty_image_folder(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "imgs").mkdir()
    out = tmp_path / "x"
    proc = run(["train", *folder_args(tmp_path / "imgs"), "--steps", "1", "--out", str(out)], env)
    assert_bad_input(proc, out, "no images found under", str(tmp_path / "imgs"))


def test_unreadable_image(tmp_path: Path, env: dict[str, str]) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.new("L", (32, 32), color=i * 40).save(folder / f"ok{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    out = tmp_path / "x"
    proc = run(["train", *folder_args(folder), "--steps", "1", "--batch-size", "2", "--out", str(out)], env)
    assert_bad_input(proc, out, "unreadable or corrupt image file", str(folder / "broken.png"))


def test_image_size_not_what_the_generator_makes(teacher: Path, tmp_path: Path, env: dict[str, str]) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(20):
        Image.new("L", (16, 16), color=i * 10).save(folder / f"{i}.png")
    out = tmp_path / "x"
    args = ["compress", "--teacher", str(teacher), *folder_args(folder), "--set", "data.image_size=16"]
    proc = run([*args, "--steps", "2", "--batch-size", "4", "--out", str(out)], env)
    assert_bad_input(proc, out, "1×32×32", "1×16×16", "data.image_size=32")


def test_folder_smaller_than_one_batch(tmp_path: Path, env: dict[str, str]) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(12):
        Image.new("L", (32, 32), color=i * 20).save(folder / f"{i}.png")
    out = tmp_path / "x"
    proc = run(["train", *folder_args(folder), "--steps", "1", "--batch-size", "16", "--out", str(out)], env)
    assert_bad_input(proc, out, "too small for batch size 16", "it has 11 images")  # the 90 % train split of 12


# -------------------------------------------------------------------------------------------------- row: NaN/Inf


def test_nan_loss_stops_and_keeps_last_good_checkpoint(teacher: Path, tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "x"
    blow_up = ["--set", "train.lr_g=1e38", "--set", "train.ckpt_every=1", "--batch-size", "16"]  # G's weights → ±1e38
    proc = run(["compress", "--teacher", str(teacher), "--steps", "10", *blow_up, "--out", str(out)], env)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "non-finite loss at step" in lines[0] and "term '" in lines[0], proc.stderr
    assert "last good checkpoint is kept" in lines[0]
    nan_step = int(lines[0].split("at step ")[1].split(":")[0])
    checkpoints = sorted(out.glob("checkpoints/step_*"))
    assert checkpoints, "no checkpoint was kept"
    tensors, meta = load_checkpoint(checkpoints[-1])
    assert meta["step"] <= nan_step
    assert all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point())


# ------------------------------------------------------------------------------------------- row: out dir exists


@pytest.mark.parametrize("command", ["train", "compress"])
def test_existing_out_dir_is_refused(teacher: Path, tmp_path: Path, env: dict[str, str], command: str) -> None:
    out = tmp_path / "x"
    out.mkdir()
    (out / "other_run.txt").write_text("someone else's results")
    before = files(out)
    args = ["train", "--dry-run"] if command == "train" else ["compress", "--teacher", str(teacher), "--dry-run"]
    proc = run([*args, "--out", str(out)], env)
    assert_bad_input(proc, out, "already exists", "--resume", "--overwrite", before=before)


# ------------------------------------------------------------------------ a command never destroys its own input


@pytest.mark.parametrize(
    ("command", "where"),
    [
        (["compress", "--teacher", "{t}", "--dry-run", "--overwrite", "--out", "{t}"], "is the input"),
        (["prune", "--teacher", "{t}", "--dry-run", "--overwrite", "--out", "{t}"], "is the input"),
        (["prune", "--teacher", "{t}", "--dry-run", "--out", "{t}/pruned"], "lies inside the input"),
        (["compress", "--teacher", "{t}", "--dry-run", "--overwrite", "--out", "{t}/.."], "contains the input"),
        (["export", "{t}", "--format", "packed", "--overwrite", "--out", "{t}"], "is the input"),
        (["evaluate", "{t}", "--output", "{t}/generator.json"], "lies inside the input"),
        (["compress", "--generator", "{t}/generator.safetensors", "--dry-run", "--out", "{t}"], "contains the input"),
    ],
)
def test_out_never_destroys_an_input(
    teacher: Path, tmp_path: Path, env: dict[str, str], command: list[str], where: str
) -> None:
    """``--out`` equal to, inside or above an input is refused with one line before anything is read or written:
    the teacher keeps every file, unchanged (it used to be replaced by the student)."""
    work = tmp_path / "work"
    work.mkdir()
    t = work / "teacher"
    shutil.copytree(teacher, t)
    before = files(t)
    proc = run([c.replace("{t}", str(t)) for c in command], env)
    line = error_line(proc, where, "could destroy it")
    assert files(t) == before, line
    assert sorted(p.name for p in work.iterdir()) == ["teacher"]


def test_out_inside_the_data_folder_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(12):
        Image.fromarray((np_rng.integers(0, 255, (16, 16))).astype("uint8")).save(folder / f"{i}.png")
    before = files(folder)
    proc = run(["train", "--data", "image_folder", "--data-dir", str(folder), "--out", str(folder / "run")], env)
    error_line(proc, "lies inside the input", "--data-dir")
    assert files(folder) == before


# ----------------------------------------------------------------------------- errors that point to the real fix


def test_missing_teacher_directory_is_named(tmp_path: Path, env: dict[str, str]) -> None:
    proc = run(["compress", "--teacher", str(tmp_path / "missing"), "--out", str(tmp_path / "o")], env)
    line = error_line(proc, "--teacher", "does not exist", "gancompress train")
    assert "--data" not in line


def test_export_into_an_existing_directory_offers_overwrite_only(
    teacher: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    pruned = tmp_path / "pruned"
    cmd = ["prune", "--teacher", str(teacher), "--granularity", "filter", "--sparsity", "0.5", "--out", str(pruned)]
    assert run(cmd, env).returncode == 0
    out = tmp_path / "exported"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    proc = run(["export", str(pruned), "--format", "physical", "--out", str(out)], env)
    line = error_line(proc, "already exists", "--overwrite")
    assert "--resume" not in line  # export has no --resume


def test_unknown_flag_shows_the_subcommands_usage(env: dict[str, str]) -> None:
    proc = gancompress(["compress", "--bogus-flag"], env)
    assert proc.returncode == 2 and "usage: gancompress compress" in proc.stderr
    assert "unrecognized arguments: --bogus-flag" in proc.stderr


def test_load_gan_of_a_user_model_names_the_python_argument(tmp_path: Path) -> None:
    import gancompress as gc
    from gancompress.errors import UserError

    (tmp_path / "generator.json").write_text(json.dumps({"arch": "user", "model": "m.py:build"}))
    (tmp_path / "generator.safetensors").write_bytes(b"")
    with pytest.raises(UserError, match=r"load_gan\(path, model="):
        gc.load_gan(tmp_path)


def test_folder_too_small_to_score_is_refused_before_training(tmp_path: Path, env: dict[str, str]) -> None:
    folder = tmp_path / "imgs"
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    for i in range(40):  # grayscale at the default 32 px: nothing to convert, so nothing else is said
        Image.new("L", (32, 32), color=i * 6).save(folder / "ab"[i % 2] / f"{i}.png")
    teacher = tmp_path / "t"
    proc = run(["train", *folder_args(folder), "--steps", "2", "--batch-size", "8", "--out", str(teacher)], env)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "c"
    proc = run(["compress", "--teacher", str(teacher), "--steps", "2", "--evaluate", "--out", str(out)], env)
    assert_bad_input(proc, out, "has 4 image(s)", "at least 10", "--evaluate")  # the 10 % test split of 40


def test_a_converted_folder_is_announced(tmp_path: Path, env: dict[str, str]) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(20):
        Image.new("RGB", (48, 48), color=(i * 10, 50, 200)).save(folder / f"{i}.png")
    proc = gancompress(
        ["train", *folder_args(folder), "--steps", "1", "--batch-size", "4", "--out", str(tmp_path / "t")], env
    )
    assert proc.returncode == 0, proc.stderr
    assert "20 colour image(s) converted to grayscale (data.channels=3 keeps colour)" in proc.stderr
    assert "resized to 32 px (data.image_size=48 keeps their size)" in proc.stderr
