"""A depthwise convolution with a faster CPU backward than torch's, same math.

Profiling the DARTS supernet on CPU (torch 2.x, oneDNN, channels-last) shows most of a training
step in the backward of the depthwise convs: oneDNN's specialised depthwise kernels cover the
forward of every kernel size but the backward only of undilated 3x3 ones; 5x5 and dilated convs
run a generic grouped kernel, and strided dilated ones a GEMM path, 10-60x slower than their
forward. Exact rewrites that move work onto the fast kernels:

- the input gradient of a stride-1 convolution is a convolution of the output gradient with the
  spatially flipped kernel (padding `d*(k-1) - p`): the fast forward path;
- for a strided dilated convolution, the same after inserting `stride - 1` zeros between the
  output-gradient entries;
- a stride-2, dilation-2 convolution with even padding reads only the even rows and columns of
  its input: it is an undilated stride-1 convolution of `x[:, :, ::2, ::2]` (DARTS' dilated
  candidates in reduction cells).

- the weight gradient of a stride-1, dilation-2 conv splits over the four parity phases of its
  input and output gradient into undilated convs (used where measured faster: small maps).

Everything else stays with torch. `depthwise_conv2d` is differentiable twice (the backward
is written with differentiable ops), so exact second-order checks can run through it.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

Pair = tuple[int, int]


class _DepthwiseConv2d(torch.autograd.Function):
    """`F.conv2d(x, w, groups=C)` with the input gradient computed as a forward conv."""

    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, stride: Pair, padding: Pair,  # type: ignore[override]
                dilation: Pair) -> Tensor:
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, dilation)
        return F.conv2d(x, w, None, stride, padding, dilation, x.shape[1])

    @staticmethod
    def backward(ctx, g: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x, w = ctx.saved_tensors
        # under autocast the forward's conv ran in the autocast dtype (that of `g`) on fp32
        # inputs: repeat that arithmetic here and return each gradient in its input's dtype,
        # as autocast's casts do around torch's own conv
        dtypes = (x.dtype, w.dtype)
        x, w = x.to(g.dtype), w.to(g.dtype)
        gx, gw = _DepthwiseConv2d._grads(ctx, g, x, w)
        return (gx.to(dtypes[0]) if gx is not None else None,
                gw.to(dtypes[1]) if gw is not None else None, None, None, None)

    @staticmethod
    def _grads(ctx: Any, g: Tensor, x: Tensor, w: Tensor) -> tuple[Tensor | None, Tensor | None]:
        stride, padding, dilation = ctx.conf
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gx = _grad_input(g, x, w, stride, padding, dilation) if need_x else None
        gw = _grad_weight_polyphase(g, x, w, stride, padding, dilation) if need_w else None
        if (need_w and gw is None) or (need_x and gx is None):
            mask = [need_x and gx is None, need_w and gw is None, False]
            rx, rw, _ = torch.ops.aten.convolution_backward(
                g, x, w, None, list(stride), list(padding), list(dilation), False, [0, 0],
                x.shape[1], mask)
            gx = rx if mask[0] else gx
            gw = rw if mask[1] else gw
        return gx, gw


def _grad_input(g: Tensor, x: Tensor, w: Tensor, stride: Pair, padding: Pair,
                dilation: Pair) -> Tensor | None:
    """The input gradient as a stride-1 conv of the (zero-interleaved) output gradient with the
    flipped kernel; None where torch's own backward is as fast (strided, undilated) or the
    padding does not allow it."""
    kh, kw = w.shape[-2:]
    pad_t = (dilation[0] * (kh - 1) - padding[0], dilation[1] * (kw - 1) - padding[1])
    if pad_t[0] < 0 or pad_t[1] < 0:
        return None
    if stride != (1, 1):
        if dilation == (1, 1):
            return None
        # g_up[s*i] = g[i], zeros elsewhere, sized so that the conv below gives back H x W
        hu = x.shape[2] + 2 * padding[0] - dilation[0] * (kh - 1)
        wu = x.shape[3] + 2 * padding[1] - dilation[1] * (kw - 1)
        up = g.new_zeros((g.shape[0], hu, wu, g.shape[1])).permute(0, 3, 1, 2)  # channels-last
        if not g.is_contiguous(memory_format=torch.channels_last):
            up = up.contiguous()
        up[:, :, ::stride[0], ::stride[1]] = g
        g = up
    return F.conv2d(g, w.flip((-2, -1)), None, 1, pad_t, dilation, x.shape[1])


def _polyphase(t: Tensor) -> Tensor:
    """`(N, C, H, W)` -> `(4N, C, H/2, W/2)`: the four (row, column) parity phases of each sample
    as separate samples, in `t`'s memory format."""
    n, c, h, w = t.shape
    if t.is_contiguous(memory_format=torch.channels_last):
        v = t.permute(0, 2, 3, 1).reshape(n, h // 2, 2, w // 2, 2, c).permute(0, 2, 4, 1, 3, 5)
        return v.reshape(4 * n, h // 2, w // 2, c).permute(0, 3, 1, 2)
    v = t.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4)
    return v.reshape(4 * n, c, h // 2, w // 2)


# Largest H*W at which the polyphase weight gradient beats torch's, per kernel size (measured on
# an AVX-512 CPU with oneDNN 3.x: 3x3 wins up to 16x16, 5x5 only at 8x8). A fixed rule, not
# autotuning, so that a resumed run repeats exactly the same arithmetic.
_POLYPHASE_MAX_AREA = {3: 256, 5: 64}


def _grad_weight_polyphase(g: Tensor, x: Tensor, w: Tensor, stride: Pair, padding: Pair,
                           dilation: Pair) -> Tensor | None:
    """The weight gradient of a stride-1, dilation-2 conv with even padding on an even-sized
    input, as the gradient of an undilated conv over the four parity phases (phase (a, b) of the
    output only reads phase (a, b) of the input): undilated 3x3 has oneDNN's fast kernel.
    None where that does not apply or is not faster."""
    kh, kw = w.shape[-2:]
    h, wd = x.shape[-2:]
    if (stride != (1, 1) or dilation != (2, 2) or kh != kw or padding[0] % 2 or padding[1] % 2
            or h % 2 or wd % 2 or h * wd > _POLYPHASE_MAX_AREA.get(kh, 0) or x.device.type != "cpu"):
        return None
    pad = [padding[0] // 2, padding[1] // 2]
    return torch.ops.aten.convolution_backward(
        _polyphase(g), _polyphase(x), w, None, [1, 1], pad, [1, 1], False, [0, 0], x.shape[1],
        [False, True, False])[1]


def depthwise_conv2d(x: Tensor, w: Tensor, stride: Pair, padding: Pair, dilation: Pair) -> Tensor:
    """Depthwise conv (`groups = channels`, no bias) of `x` with `w` `(C, 1, kh, kw)`."""
    if (stride == dilation == (2, 2) and padding[0] % 2 == 0 and padding[1] % 2 == 0):
        # y[h] = sum_i x[2h + 2i - 2q] w[i] = sum_i x[::2][h + i - q] w[i]: an undilated
        # stride-1 conv of the even rows/columns (same output size for odd and even inputs)
        cl = x.is_contiguous(memory_format=torch.channels_last)
        x = x[:, :, ::2, ::2].contiguous(memory_format=torch.channels_last if cl else
                                          torch.contiguous_format)
        stride, dilation, padding = (1, 1), (1, 1), (padding[0] // 2, padding[1] // 2)
    return _DepthwiseConv2d.apply(x, w, stride, padding, dilation)
