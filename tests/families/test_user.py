"""gancompress.families.user (``--model file.py:factory``): a factory calling ``sys.exit`` is reported, not obeyed."""

from __future__ import annotations

from pathlib import Path

import pytest

from gancompress.errors import UserError

# --------------------------------------------------------------------- F14: --model / --config not regular files


@pytest.mark.parametrize("where", ["module", "factory"])
def test_user_model_calling_sys_exit_is_reported(tmp_path: Path, where: str) -> None:
    from gancompress.families.user import build_user_model

    body = "import sys\n" + ("sys.exit(0)\n" if where == "module" else "def build():\n    sys.exit(0)\n")
    (tmp_path / "m.py").write_text(body + ("def build():\n    return None\n" if where == "module" else ""))
    # before: SystemExit went through and gancompress ended with code 0 and no output
    with pytest.raises(UserError, match="SystemExit"):
        build_user_model(f"{tmp_path / 'm.py'}:build")
