"""``gancompress evaluate`` (cli/evaluate.py): what it refuses before scoring."""

from __future__ import annotations

from pathlib import Path

import pytest

from gancompress.cli import main as cli


def main_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """``cli.main(argv)`` in-process: asserts exit 2 and returns the error line."""
    assert cli.main([*argv, "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err, err
    return err


# ------------------------------------------------------------------------------ F12: ONNX opset, evaluate a file


def test_evaluate_a_regular_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    assert f"{path} is not a run directory" in main_error(["evaluate", "--dry-run", str(path)], capsys)
