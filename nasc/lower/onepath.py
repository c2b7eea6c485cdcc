"""One-path choice edges (GDAS, Dong & Yang, CVPR 2019) for a lowered supernet.

    net = build_module(network)       # the DARTS supernet (nasc.lower.net)
    one_path(net)                     # every choice edge becomes a `OnePathOp`
    net(x, arch={t: hardwts})         # rows: one-hot in value (straight-through Gumbel weights)

A `OnePathOp` runs exactly one candidate: the one whose weight in the row is largest (the row is
one-hot in value), and scales its output by that weight, so the gradient of the loss reaches the
row (and through the caller's softmax every architecture weight of the edge) while the other
candidates cost nothing. The candidates are the `MixedOp`'s own modules (`ops.<i>`, pools with
their batch norm), so a supernet's weights keep their places.
"""
from __future__ import annotations

from torch import Tensor, nn

from nasc.lower.mixed import MixedOp
from nasc.lower.modules import MixedEdge
from nasc.lower.net import NascNet


class OnePathOp(nn.Module):
    """Runs the candidate picked by the row (its argmax), times its weight."""

    def __init__(self, mixed: MixedOp) -> None:
        super().__init__()
        self.mixed = mixed

    @property
    def names(self) -> list[str]:
        """The candidate names (as `MixedOp.names`)."""
        return self.mixed.names

    def forward(self, x: Tensor, row: Tensor) -> Tensor:
        # one host sync per edge (as GDAS' `index.item()`); the pick decides which module runs
        i = int(row.detach().argmax())
        return self.mixed.ops[i](x) * row[i]


def one_path(net: NascNet) -> NascNet:
    """Wrap the mixed op of every choice edge of `net` in a `OnePathOp`; returns `net`."""
    for edge in net.modules():
        if isinstance(edge, MixedEdge) and isinstance(edge.op, MixedOp):
            edge.op = OnePathOp(edge.op)
    return net
