"""Exception types. ``UserError`` means bad input: the CLI prints its one-line message and exits with code 2."""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (user code and libraries write pages), or its type name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe(exc: BaseException) -> str:
    """``Type: first line`` of ``exc`` (``Type`` alone without a message): for errors of code we did not write."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


class UserError(Exception):
    """Bad input from the user (file, flag, config, data). The message must say what to do."""


class CorruptCheckpointError(UserError):
    """A checkpoint file that cannot be parsed (truncated, not safetensors, bad JSON)."""


class UnsafeCheckpointError(UserError):
    """A file that would need full unpickling (code execution) to load."""


class NonFiniteLossError(RuntimeError):
    """A loss became NaN/Inf; carries the step and the term."""

    def __init__(self, step: int, term: str, value: float) -> None:
        super().__init__(f"non-finite loss at step {step}: term {term!r} = {value}")
        self.step = step
        self.term = term
        self.value = value


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT / SIGTERM stopped training after step ``step``; ``checkpoint`` holds it (``None``: nothing saved)."""

    def __init__(self, step: int, checkpoint: object | None = None) -> None:
        super().__init__(f"interrupted at step {step}")
        self.step = step
        self.checkpoint = checkpoint


class DistributedError(RuntimeError):
    """Ranks of a multi-process run disagree on state that must be identical (e.g. pruning masks)."""
