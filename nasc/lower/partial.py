"""Partial channel connections (PC-DARTS, Xu et al., ICLR 2020) for a lowered supernet.

    net = build_module(network)                 # the DARTS supernet (nasc.lower.net)
    partial_channels(net, network, k=4)         # every choice edge becomes a `PartialMixedOp`
    net(x, arch={t: rows})                      # rows: (n_choice_edges, n_candidates + 1)

A `PartialMixedOp` sends only the first `C // k` channels of its input through the candidates
(built at that width, C/k in and out) and lets the other `C - C // k` channels bypass them
unchanged (through a 2x2 max pool on a stride-2 edge, so the shapes agree); the two parts are
concatenated (mixed part first) and shuffled with `k` groups (`channel_shuffle`, the PC-DARTS
one: output channel `j * k + g` is input channel `g * C // k + j`).

Its row of architecture weights has one more entry than the candidates: the edge weight of edge
normalisation (PC-DARTS' beta, already normalised over the node's edges), by which the whole edge
output is scaled. It is folded into the mixing weights of the candidates (a multiply on a row,
not on a tensor) and applied to the bypass once.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nasc.analysis.network import Mixed, Network, Pipeline
from nasc.analysis.shapes import CallContext, Expander
from nasc.errors import ConfigError
from nasc.lower.mixed import MixedOp
from nasc.lower.modules import MixedEdge, build_pipeline
from nasc.lower.net import NascNet
from nasc.source import Span


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """ShuffleNet's channel shuffle as PC-DARTS applies it: view the channels as
    `(groups, C // groups)`, transpose, flatten. Keeps `x`'s memory format."""
    n, c, h, w = x.shape
    fmt = _format(x)
    out = x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)
    return out.contiguous(memory_format=fmt)


def _format(x: Tensor) -> torch.memory_format:
    """The memory format to keep: channels-last when `x` is (and is not also plain contiguous)."""
    if x.dim() == 4 and x.shape[1] > 1 and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


class PartialMixedOp(nn.Module):
    """A PC-DARTS edge: a `MixedOp` over `C // k` channels, the rest bypassing it, then a channel
    shuffle; scaled by the edge weight (the last entry of the row)."""

    def __init__(self, mixed: MixedOp, channels: int, k: int, stride: int) -> None:
        super().__init__()
        self.mixed = mixed
        self.k = k
        self.part = channels // k
        self.stride = stride
        self.n = len(mixed.names)

    @property
    def names(self) -> list[str]:
        """The candidate names (as `MixedOp.names`)."""
        return self.mixed.names

    def forward(self, x: Tensor, row: Tensor) -> Tensor:
        beta = row[self.n]
        fmt = _format(x)
        # a channel slice is strided in either layout: copy it dense, or the convolutions
        # below fall back to torch's slow kernels
        y = self.mixed(x[:, : self.part].contiguous(memory_format=fmt), row[: self.n] * beta)
        rest = x[:, self.part:]
        if self.stride > 1:
            # ceil mode: equal to PC-DARTS' MaxPool2d(2, 2) on even sizes, and matches the
            # candidates' output on odd ones
            rest = F.max_pool2d(rest, self.stride, self.stride, ceil_mode=True)
        return channel_shuffle(torch.cat([y, rest * beta], dim=1), self.k)


def partial_channels(net: NascNet, network: Network, k: int) -> NascNet:
    """Replace the mixed op of every choice edge of `net` (lowered from `network`) by a
    `PartialMixedOp` whose candidates are built at width `C // k`; returns `net`.

    Raises `ConfigError` (key `search.pc_darts.k`) for an edge whose width is not a multiple of
    `k` or whose input and output widths differ (partial channels keep the width).
    """
    if k < 1:
        raise ConfigError(f"partial channels need k >= 1, got {k}", key="search.pc_darts.k")
    expander = Expander(network.model, network.params)
    for i, cell in enumerate(network.cells):
        module = net.cells[i]
        for node in cell.nodes:
            for j, e in enumerate(node.edges):
                if not isinstance(e.op, Mixed):
                    continue
                edge = module.get_submodule(f"{node.name}.e{j}")
                assert isinstance(edge, MixedEdge)
                edge.op = _partial(expander, e.op, e.id, k, network.model.affine, e.span)
    return net


def _partial(expander: Expander, m: Mixed, eid: str, k: int, affine: bool,
             span: Span | None) -> PartialMixedOp:
    c, h, w = m.in_shape
    if m.out_shape[0] != c:
        raise ConfigError(f"{eid}: a partial-channel edge must keep its width, but it maps {c} "
                          f"channels to {m.out_shape[0]}", key="search.pc_darts.k", span=span,
                          hint="PC-DARTS applies to spaces whose choice edges map C to C "
                               "(cell inputs are preprocessed to the cell width)")
    if c % k:
        raise ConfigError(f"{eid}: {c} channels are not divisible by k={k}",
                          key="search.pc_darts.k", span=span,
                          hint=f"pick k dividing the cell widths, or set search.pc_darts.channels "
                               f"to a multiple of {k}")
    stride = max(h // m.out_shape[1], 1)
    part = c // k
    ctx = CallContext((part, h, w), part, stride, affine)
    candidates = []
    for p in m.candidates:
        calls, out = expander.expand(p.call, ctx)
        candidates.append(build_pipeline(Pipeline(p.call, calls, ctx.shape, out)))
    mixed = MixedOp(candidates, list(m.names), out_channels=part)
    return PartialMixedOp(mixed, c, k, stride)
