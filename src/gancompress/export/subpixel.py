"""A transposed convolution rewritten as one ordinary convolution producing every output phase, then pixel shuffle.

Why: ONNX Runtime has int8 kernels for ``Conv`` (``QLinearConv``, VNNI on x86) but none for ``ConvTranspose``; in a
quantized graph a transposed convolution stays fp32 between a DequantizeLinear and a QuantizeLinear and the model
gets *slower* than fp32 (measured in docs/deploy.md "Int8"). Generators upsample with ``ConvTranspose2d`` (DCGAN,
pix2pix, CycleGAN, StarGAN), so this rewrite is what lets their int8 export run int8 kernels.

The rewrite is exact (fp32 outputs agree to rounding). Output pixel ``n = s·m + r`` of a stride-``s`` transposed
convolution only sees the kernel taps ``t ≡ r + p (mod s)``: ``t = s·d + c`` with ``c = r + p``, reading ``x[m - d]``.
So phase ``(r_h, r_w)`` is a small ordinary convolution of the input, and all ``s²`` phases fit in one convolution
with ``s²·C_out`` output channels whose kernel covers the union of the phases' taps (zeros elsewhere);
``pixel_shuffle`` then puts channel ``c·s² + r_h·s + r_w`` at output ``(s·m_h + r_h, s·m_w + r_w)``. The zeros cost
MACs (2.25× for kernel 4 / stride 2, 1.78× for kernel 3 / stride 2) but one ``Conv`` + ``DepthToSpace`` runs faster
in int8 than four phase convolutions with their slices (measured: docs/deploy.md "Int8").

Example:
    >>> import torch
    >>> ct = torch.nn.ConvTranspose2d(3, 5, 4, 2, 1)
    >>> x = torch.randn(2, 3, 7, 7)
    >>> bool(torch.allclose(SubPixelConvTranspose2d(ct)(x), ct(x), atol=1e-5))
    True
"""

from __future__ import annotations

import copy
import itertools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _phase_taps(k: int, s: int, p: int) -> list[tuple[int, int]]:
    """Per output phase ``r``: (``P_r``, ``L_r``) — tap ``j < L_r`` reads ``x[m + j - P_r]`` (``d = P_r - j``)."""
    taps = []
    for r in range(s):
        c = r + p
        d_lo, d_hi = math.ceil(-c / s), math.floor((k - 1 - c) / s)
        taps.append((d_hi, d_hi - d_lo + 1) if d_hi >= d_lo else (0, 0))  # (0, 0): no tap reaches this phase
    return taps


def rewritable(m: nn.Module) -> bool:
    """Whether ``m`` is a 2-d transposed convolution this rewrite covers: an upsampling one (equal strides > 1; at
    stride 1 on a 1×1 input — DCGAN's stem — the convolution would multiply mostly padding), no groups, no dilation,
    zero padding."""
    return (
        isinstance(m, nn.ConvTranspose2d)
        and m.stride[0] == m.stride[1] > 1
        and m.groups == 1
        and tuple(m.dilation) == (1, 1)
        and m.padding_mode == "zeros"
        and isinstance(m.padding, tuple)
    )


class SubPixelConvTranspose2d(nn.Module):
    """``ConvTranspose2d`` as one convolution with ``s²·C_out`` outputs + ``pixel_shuffle`` (module docstring)."""

    def __init__(self, ct: nn.ConvTranspose2d) -> None:
        super().__init__()
        if not rewritable(ct):
            raise ValueError(f"cannot rewrite {ct} (stride, groups, dilation or padding mode unsupported)")
        s = self.s = int(ct.stride[0])
        self.k, self.p, self.op = tuple(ct.kernel_size), tuple(ct.padding), tuple(ct.output_padding)
        taps = [_phase_taps(self.k[a], s, self.p[a]) for a in (0, 1)]
        # the union kernel: tap j of phase r sits at J = j - P_r + P, P = max P_r (left padding), K = P - min start + 1
        self.left = tuple(max(pr for pr, n in t if n) if any(n for _, n in t) else 0 for t in taps)
        starts = [min((pr - n + 1 for pr, n in t if n), default=0) for t in taps]
        self.kernel = tuple(self.left[a] - starts[a] + 1 for a in (0, 1))
        w = ct.weight.detach()  # (in, out, kH, kW)
        weight = torch.zeros(ct.out_channels, s, s, ct.in_channels, *self.kernel, dtype=w.dtype)
        for rh, (ph, lh) in enumerate(taps[0]):
            for rw, (pw, lw) in enumerate(taps[1]):
                for j in range(lh):
                    th, jj = s * (ph - j) + rh + self.p[0], j - ph + self.left[0]
                    for i in range(lw):
                        tw, ii = s * (pw - i) + rw + self.p[1], i - pw + self.left[1]
                        weight[:, rh, rw, :, jj, ii] = w[:, :, th, tw].t()
        self.weight = nn.Parameter(weight.flatten(0, 2))  # channel c·s² + r_h·s + r_w, as pixel_shuffle reads it
        self.bias = None if ct.bias is None else nn.Parameter(ct.bias.detach().repeat_interleave(s * s))

    def _geometry(self, size: int, axis: int) -> tuple[int, int]:
        """(output size, right padding) along ``axis`` for an input of length ``size``."""
        out = (size - 1) * self.s - 2 * self.p[axis] + self.k[axis] + self.op[axis]
        m = -(-out // self.s)  # phase length: the convolution must produce ceil(out / s) positions
        return out, max(0, m + self.kernel[axis] - self.left[axis] - size - 1)

    def forward(self, x: Tensor) -> Tensor:
        out_h, right_h = self._geometry(int(x.shape[-2]), 0)
        out_w, right_w = self._geometry(int(x.shape[-1]), 1)
        if (right_h, right_w) == self.left:  # symmetric: the padding is the Conv's own attribute (no Pad node)
            y = F.conv2d(x, self.weight, self.bias, padding=self.left)
        else:
            y = F.conv2d(F.pad(x, (self.left[1], right_w, self.left[0], right_h)), self.weight, self.bias)
        y = F.pixel_shuffle(y, self.s)
        if y.shape[-2] != out_h or y.shape[-1] != out_w:
            y = y[:, :, :out_h, :out_w]
        return y


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """An eval-mode copy of ``module`` with every BatchNorm2d that directly follows a (transposed) convolution in an
    ``nn.Sequential`` folded into that convolution's weights and bias (exact in eval mode). Why: after the sub-pixel
    rewrite a BatchNorm no longer sits next to a Conv, so ONNX Runtime could not fuse it, and an unfused
    normalisation costs a dequantize/requantize pair in an int8 graph."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    out = copy.deepcopy(module).eval()
    for parent in out.modules():
        if not isinstance(parent, nn.Sequential):
            continue
        names = list(parent._modules)
        for a, b in itertools.pairwise(names):
            conv, bn = parent._modules[a], parent._modules[b]
            if isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(bn, nn.BatchNorm2d):
                if bn.running_mean is None or conv.padding_mode != "zeros":
                    continue
                parent._modules[a] = fuse_conv_bn_eval(conv, bn, transpose=isinstance(conv, nn.ConvTranspose2d))
                parent._modules[b] = nn.Identity()
    return out


def rewrite_conv_transpose(module: nn.Module) -> tuple[nn.Module, int]:
    """(eval-mode copy of ``module`` with BatchNorm folded and every rewritable ``ConvTranspose2d`` replaced by
    :class:`SubPixelConvTranspose2d`, number replaced). The outputs agree with ``module``'s to fp32 rounding."""
    out = fold_batchnorm(module)
    count = 0
    for parent in list(out.modules()):
        for name, child in list(parent._modules.items()):
            if rewritable(child):
                parent._modules[name] = SubPixelConvTranspose2d(child)
                count += 1
    return out, count
