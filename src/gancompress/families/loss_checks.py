"""Checks on what a ``GanLoss`` returns, applied to every subclass (built-in families and bring-your-own losses).

A user's loss object is code we did not write: a bare tensor from ``generator_input`` (``g(*x)`` then unpacks it along
the batch), a Python float as a term (no gradient), an empty dict or a detached G term would otherwise surface as an
``AttributeError`` / ``StopIteration`` deep inside a method, or — worse — train on silently while a term contributes
nothing. :func:`wrap_loss_methods` (called from ``GanLoss.__init_subclass__``) wraps each method a subclass defines so
its result is checked where it is produced, with the class and method named in a ``UserError``. The checks are
``isinstance`` tests on a handful of objects per step: negligible next to a forward pass.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import torch

from gancompress.errors import UserError

#: the GanLoss methods whose results are checked (the four the training step consumes)
CHECKED = ("generator_input", "generator_terms", "discriminator_terms", "fake_terms")


def wrap_loss_methods(cls: type) -> None:
    """Wrap the :data:`CHECKED` methods ``cls`` itself defines (inherited ones are already wrapped)."""
    for name in CHECKED:
        fn = cls.__dict__.get(name)
        if fn is None or getattr(fn, "__gancompress_checked__", False) or getattr(fn, "__isabstractmethod__", False):
            continue
        wrapped = functools.wraps(fn)(_CHECKERS[name](fn, f"{cls.__name__}.{name}"))
        wrapped.__gancompress_checked__ = True  # type: ignore[attr-defined]
        setattr(cls, name, wrapped)


def _inputs(fn: Callable[..., Any], where: str) -> Callable[..., Any]:
    def checked(self: Any, batch: Any) -> Any:
        out = fn(self, batch)
        if not isinstance(out, (tuple, list)):
            raise UserError(
                f"{where} must return a tuple of generator arguments (g(*x)), got {type(out).__name__}; "
                "return (z,) for a single input"
            )
        return out

    return checked


def _g_terms(fn: Callable[..., Any], where: str) -> Callable[..., Any]:
    def checked(self: Any, g_out: Any, batch: Any, d: Any, *args: Any, **kwargs: Any) -> Any:
        return check_terms(fn(self, g_out, batch, d, *args, **kwargs), where, g_out=g_out)

    return checked


def _d_terms(fn: Callable[..., Any], where: str) -> Callable[..., Any]:
    def checked(self: Any, g_out: Any, batch: Any, d: Any, *args: Any, fake_only: bool = False, **kwargs: Any) -> Any:
        # Eq. 8 may have no fake-dependent D term (then L_DC = 0); D's own update needs at least one term
        return check_terms(fn(self, g_out, batch, d, *args, fake_only=fake_only, **kwargs), where, empty_ok=fake_only)

    return checked


def _fake_terms(fn: Callable[..., Any], where: str) -> Callable[..., Any]:
    def checked(self: Any, g_out: Any, batch: Any, d: Any, *args: Any, **kwargs: Any) -> Any:
        out = fn(self, g_out, batch, d, *args, **kwargs)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise UserError(
                f"{where} must return (G terms, fake-dependent D terms), two dicts; got {type(out).__name__}"
            )
        return check_terms(out[0], where, g_out=g_out), check_terms(out[1], where + " (D terms)", empty_ok=True)

    return checked


_CHECKERS: dict[str, Callable[[Callable[..., Any], str], Callable[..., Any]]] = {
    "generator_input": _inputs,
    "generator_terms": _g_terms,
    "discriminator_terms": _d_terms,
    "fake_terms": _fake_terms,
}


def check_terms(terms: Any, where: str, *, g_out: Any = None, empty_ok: bool = False) -> Any:
    """``terms`` must be a dict of names to tensors (non-empty unless ``empty_ok``).

    With ``g_out`` (G's terms): when ``g_out`` carries gradients, every term must too — a term computed from a
    detached output (``.detach()``, ``.item()``, ``torch.no_grad()``) would be optimised as a constant, i.e. ignored.
    """
    if not isinstance(terms, Mapping):
        raise UserError(
            f"{where} must return a dict of named loss terms ({{'gen': tensor, ...}}), got {type(terms).__name__}"
        )
    if not terms and not empty_ok:
        raise UserError(f"{where} returned no loss terms; return at least one, e.g. {{'gen': ...}}")
    for name, value in terms.items():
        if not isinstance(name, str):
            raise UserError(f"{where}: loss term names must be strings, got {name!r}")
        if not isinstance(value, torch.Tensor):
            raise UserError(
                f"{where}: loss term {name!r} is a {type(value).__name__}, not a tensor; compute it with torch "
                "operations on the generator output so gradients flow"
            )
        if isinstance(g_out, torch.Tensor) and g_out.requires_grad and not value.requires_grad:
            raise UserError(
                f"{where}: loss term {name!r} does not depend on the generator (it has no gradient while G's output "
                "has one: detached, .item(), or computed under torch.no_grad?); it would be silently ignored"
            )
    return terms


__all__ = ["CHECKED", "check_terms", "wrap_loss_methods"]
