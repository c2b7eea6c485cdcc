"""The mixed op of a choice edge: `sum_i w_i * op_i(x)`, built like DARTS' search `MixedOp`.

Interface (called by `nasc.lower.modules.build_mixed`):
`MixedOp(candidates, names, out_channels=None)`, `forward(x, mixing_row)` where `mixing_row`
holds one (already normalised) mixing weight per candidate, in candidate order.

As in DARTS, a pool candidate ('pool' in its name) is followed by `BatchNorm2d(C, affine=False)`;
the module keeps the candidates' own modules under `ops.<i>` so state_dict names stay readable.

The forward is the same math as the naive sum, evaluated with less work (profiled on the DARTS
supernet on CPU; see `benchmarks/darts_step.py`):
- the `none` candidate is not computed: its output is zero, so it adds nothing to the sum and its
  weight's gradient is exactly zero either way;
- the leading ReLU of the conv candidates (and of FactorizedReduce) is computed once and shared;
- a ReLU right after a conv, BN or pool runs in place (none of those saves its output for backward);
- the mixing weight is folded into a candidate's final non-affine batch norm
  (`w * BN(h) == batch_norm(h, weight=w)`), saving a multiply and its saved tensor per candidate;
- depthwise convs use `nasc.lower.depthwise` (a faster CPU backward);
- outputs are accumulated in place into the first (fresh) candidate output;
- the incoming gradient is made dense once (`_DenseGrad`) before it fans out to the candidates.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nasc.lower.depthwise import depthwise_conv2d
from nasc.ops.modules import FactorizedReduce, Zero

# step codes of a candidate's plan
_CALL, _DW, _RELU_INPLACE, _FR = 0, 1, 2, 3
# ops that do not save their output for backward: a ReLU after them may overwrite it
_OUTPUT_NOT_SAVED = (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d)


class MixedOp(nn.Module):
    """Weighted sum of candidate ops; `mixing_row` holds one (normalised) weight per candidate.

    `out_channels` is the width of the edge output, needed for the batch norm DARTS adds after
    pool candidates (pools keep the channel count, so it is also their input width).
    """

    def __init__(self, candidates: Sequence[nn.Module], names: Sequence[str],
                 out_channels: int | None = None, pool_bn: bool = True) -> None:
        super().__init__()
        if len(candidates) != len(names):
            raise ValueError("MixedOp needs one name per candidate")
        ops: list[nn.Module] = []
        for op, name in zip(candidates, names):
            if pool_bn and "pool" in name:
                if out_channels is None:
                    raise ValueError(f"MixedOp: pool candidate `{name}` needs out_channels for its batch norm")
                op = nn.Sequential(op, nn.BatchNorm2d(out_channels, affine=False))
            ops.append(op)
        self.ops = nn.ModuleList(ops)
        self.names = list(names)
        self._plan = [p for p in (_plan(i, op) for i, op in enumerate(ops)) if p is not None]
        self._shared_relu = any(p[1] for p in self._plan)
        self._zero = next((op for op in ops if isinstance(op, Zero)), None)

    def forward(self, x: Tensor, mixing_row: Tensor) -> Tensor:
        ws = mixing_row.unbind(0)
        rx = F.relu(x) if self._shared_relu else x
        out: Tensor | None = None
        for i, shared, steps, bn in self._plan:
            h = rx if shared else x
            for code, m in steps:
                if code == _DW:
                    h = depthwise_conv2d(h, m.weight, m.stride, m.padding, m.dilation)
                elif code == _CALL:
                    h = m(h)
                elif code == _RELU_INPLACE:
                    h = F.relu_(h)
                else:  # _FR: FactorizedReduce on an already rectified input
                    h = torch.cat([m.conv_1(h), m.conv_2(h[:, :, 1:, 1:])], dim=1)
            y = _scaled_bn(bn, h, ws[i]) if bn is not None else h * ws[i]
            out = y if out is None else out.add_(y)
        if out is None:  # every candidate is `none`
            assert self._zero is not None
            return self._zero(x)
        return _DenseGrad.apply(out)


class _DenseGrad(torch.autograd.Function):
    """Identity whose backward hands on a dense gradient in the output's memory format.

    The gradient reaching a mixed op is often a channel slice of a larger one (the backward of
    the cell's output `cat`); torch's CPU batch-norm backward is ~8x slower on such strided
    gradients, and every candidate's batch norm would pay it. One copy here avoids that."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:  # type: ignore[override]
        fmt = torch.channels_last if ctx.channels_last else torch.contiguous_format
        return g.contiguous(memory_format=fmt)


Plan = tuple[int, bool, list[tuple[int, nn.Module]], "nn.BatchNorm2d | None"]


def _plan(index: int, op: nn.Module) -> Plan | None:
    """How to run candidate `op`: (index, reads the shared ReLU, steps, final BN that takes the
    weight or None). None for a `none` candidate (not computed)."""
    mods = list(op) if isinstance(op, nn.Sequential) else [op]
    mods = [m for m in mods if not isinstance(m, nn.Identity)]
    if any(isinstance(m, Zero) for m in mods):
        return None
    shared = False
    steps: list[tuple[int, nn.Module]] = []
    bn: nn.BatchNorm2d | None = None
    if mods and type(mods[0]) is nn.ReLU:
        shared, mods = True, mods[1:]
    elif mods and type(mods[0]) is FactorizedReduce:
        fr = mods[0]
        shared = True
        steps.append((_FR, fr))
        mods = [fr.bn, *mods[1:]]
    if mods and _foldable_bn(mods[-1]):
        bn = mods[-1]  # type: ignore[assignment]
        mods = mods[:-1]
    prev: nn.Module | None = steps[-1][1] if steps else None
    for m in mods:
        if type(m) is nn.ReLU and prev is not None and isinstance(prev, _OUTPUT_NOT_SAVED):
            steps.append((_RELU_INPLACE, m))
        elif _is_depthwise(m):
            steps.append((_DW, m))
        else:
            steps.append((_CALL, m))
        prev = m
    return index, shared, steps, bn


def _foldable_bn(m: nn.Module) -> bool:
    """A plain non-affine 2-d batch norm: `w * bn(h)` equals `batch_norm(h, weight=w)`."""
    return type(m) is nn.BatchNorm2d and not m.affine


def _is_depthwise(m: nn.Module) -> bool:
    return (type(m) is nn.Conv2d and m.groups > 1 and m.groups == m.in_channels == m.out_channels
            and m.bias is None and m.padding_mode == "zeros" and isinstance(m.padding, tuple))


def _scaled_bn(bn: nn.BatchNorm2d, h: Tensor, w: Tensor) -> Tensor:
    """`w * bn(h)` for a non-affine batch norm, as one batch-norm call with weight `w` per channel.
    Running statistics are updated exactly as `nn.BatchNorm2d.forward` updates them."""
    eaf = 0.0
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        eaf = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    elif bn.momentum is not None:
        eaf = bn.momentum
    use_batch = bn.training or (bn.running_mean is None and bn.running_var is None)
    track = not bn.training or bn.track_running_stats
    # `.contiguous()`: torch's CPU batch-norm backward gives a wrong input gradient for a
    # channels-last input with a stride-0 (expanded) weight (seen in torch 2.13)
    weight = w.expand(h.shape[1]).contiguous()
    return F.batch_norm(h, bn.running_mean if track else None, bn.running_var if track else None,
                        weight, None, use_batch, eaf, bn.eps)
