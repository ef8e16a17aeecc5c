"""Layer sizes of a physically pruned model: recorded (:func:`channel_spec`), rebuilt (:func:`apply_channel_spec`).

``remove_pruned_channels`` (physical.py) makes layers smaller; a checkpoint stores only weights plus a JSON arch spec,
so the new sizes travel in that JSON and ``checkpoint.load_module`` resizes a freshly built architecture before loading
the weights strictly — no pickled modules (docs/architecture.md "Contracts").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from gancompress.errors import UserError
from gancompress.pruning.mask_buffers import NORM_TYPES

_CONV = nn.modules.conv._ConvNd


def channel_spec(module: nn.Module) -> dict[str, dict[str, Any]]:
    """Channel sizes of every convolution, Linear and BatchNorm / InstanceNorm layer of ``module``.

    Returns:
        ``{name: {"type": "Conv2d", "in": 3, "out": 8}}``, Linear likewise, norms ``{"type", "num_features"}``.

    Example:
        >>> channel_spec(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)))
        {'0': {'type': 'Conv2d', 'in': 3, 'out': 8}, '1': {'type': 'BatchNorm2d', 'num_features': 8}}
    """
    spec: dict[str, dict[str, Any]] = {}
    for name, m in module.named_modules():
        if isinstance(m, _CONV):
            spec[name] = {"type": type(m).__name__, "in": m.in_channels, "out": m.out_channels}
        elif isinstance(m, nn.Linear):
            spec[name] = {"type": type(m).__name__, "in": m.in_features, "out": m.out_features}
        elif isinstance(m, NORM_TYPES):
            spec[name] = {"type": type(m).__name__, "num_features": m.num_features}
    return spec


def _new_param(old: Tensor, shape: tuple[int, ...]) -> nn.Parameter:
    return nn.Parameter(old.new_zeros(shape), requires_grad=old.requires_grad)


def apply_channel_spec(module: nn.Module, spec: Mapping[str, Mapping[str, Any]]) -> nn.Module:
    """Resize the layers of a freshly built full-size ``module`` to the sizes in ``spec`` (from :func:`channel_spec`).

    # DECISION: layers are resized in place (new zero parameters of the recorded shape, size attributes updated), not
    # rebuilt: kernel, stride, padding, groups, bias, affine, eps, momentum… and any subclass stay exactly as built.
    The values are then overwritten by ``load_state_dict``.

    Args:
        module: Freshly built model (``create_model(arch, **kwargs)``).
        spec: ``{layer name: sizes}``.

    Returns:
        ``module`` (resized in place), with ``module.channel_spec`` set.

    Raises:
        UserError: ``spec`` names a layer the architecture lacks, of another type, or with impossible sizes.

    Example:
        >>> net = apply_channel_spec(nn.Sequential(nn.Conv2d(3, 8, 3)), {"0": {"type": "Conv2d", "in": 3, "out": 5}})
        >>> tuple(net[0].weight.shape)
        (5, 3, 3, 3)
    """
    for name, entry in spec.items():
        try:
            m = module.get_submodule(name)
        except AttributeError:
            raise UserError(f"channel_spec names layer {name!r}, which the architecture does not have") from None
        if not isinstance(entry, Mapping) or entry.get("type") != type(m).__name__:
            raise UserError(f"channel_spec entry {name!r} = {entry!r} does not fit layer type {type(m).__name__}")
        try:
            if isinstance(m, NORM_TYPES):
                n = int(entry["num_features"])
                if n != m.num_features:
                    m.num_features = n
                    if m.weight is not None:
                        m.weight, m.bias = _new_param(m.weight, (n,)), _new_param(m.bias, (n,))
                    if getattr(m, "running_mean", None) is not None:
                        m.running_mean, m.running_var = m.running_mean.new_zeros(n), m.running_var.new_ones(n)
                continue
            cin, cout = int(entry["in"]), int(entry["out"])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"channel_spec entry {name!r} = {entry!r} is malformed") from None
        if isinstance(m, nn.Linear):
            m.in_features, m.out_features, shape = cin, cout, (cout, cin)
        elif isinstance(m, _CONV):
            g = m.groups
            if cin % g or cout % g:
                raise UserError(f"channel_spec {name!r}: {cin}→{cout} channels do not divide into groups={g}")
            shape = (cin, cout // g, *m.kernel_size) if m.transposed else (cout, cin // g, *m.kernel_size)
            m.in_channels, m.out_channels = cin, cout
        else:
            raise UserError(f"channel_spec entry {name!r}: cannot resize {type(m).__name__}")
        if tuple(m.weight.shape) != shape:
            m.weight = _new_param(m.weight, shape)
        if m.bias is not None and m.bias.shape[0] != cout:
            m.bias = _new_param(m.bias, (cout,))
    module.channel_spec = {k: dict(v) for k, v in spec.items()}
    return module
