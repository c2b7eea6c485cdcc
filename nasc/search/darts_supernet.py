"""The trainable DARTS supernet: the lowered supernet IR plus its architecture parameters alpha.

    module = DartsSupernet.build(space)        # supernet(space) -> elaborate -> lower, plus alphas
    module.network_weights(), module.alphas()          # disjoint parameter lists (two optimizers)
    module.alpha_matrices()                    # raw alphas per template, for `darts.derive`

Alphas are one matrix per cell template with choices, `(n_choice_edges, n_candidates)`, rows in
`nasc.ir.queries.choice_edge_ids` order, shared by every instance of the template. The mixing
weights are `softmax(alpha)` per row, computed once per forward.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nasc.ir.model import Model
from nasc.ir.queries import choice_edge_ids, choice_shapes
from nasc.search.darts import supernet

ALPHA_INIT_SCALE = 1e-3  # DARTS: alpha = 1e-3 * randn


#: 1x1 stride-2 convolutions narrower than this disable channels-last: torch 2.13's CPU backward of a 1x1
#: stride-2 channels-last conv with 1-4 channels corrupts the heap (SIGSEGV in a toy search at
#: `search.darts.channels=2`, whose factorized reductions have 1-channel convs)
MIN_CHANNELS_LAST_WIDTH = 5


def use_channels_last(device: torch.device | str | None) -> bool:
    """Whether the supernet should run in channels-last memory format: on the CPU, where oneDNN's
    depthwise and 1x1 convolutions are several times faster in that layout."""
    return torch.device(device or "cpu").type == "cpu"


def narrowest_conv(network: Any) -> int | None:
    """The fewest channels (input or output) of any 1x1 stride-2 convolution in an elaborated
    network (a strided 1x1 `conv`, the two of a `factorized_reduce`), or None when it has none:
    the convolutions whose channels-last backward the torch bug hits."""
    widths: list[int] = []

    def visit(p: Any) -> None:
        for c in getattr(p, "calls", ()):
            if c.op == "conv" and c.params.k == 1 and c.params.stride == 2:
                widths.extend((c.in_shapes[0][0], c.params.out))
            elif c.op == "factorized_reduce":  # two convs, each to half the output
                widths.extend((c.in_shapes[0][0], c.params.out // 2))

    for p in (*network.stems, network.head, *((network.aux,) if network.aux is not None else ())):
        visit(p)
    for cell in network.cells:
        for i in cell.inputs:
            if i.op is not None:
                visit(i.op)
        for n in cell.nodes:
            for e in n.edges:
                for p in getattr(e.op, "candidates", (e.op,)):
                    visit(p)
            if n.proj is not None:
                visit(n.proj)
    return min(widths) if widths else None


def channels_last_safe(network: Any) -> bool:
    """Whether channels-last is safe for this network (no 1x1 stride-2 conv narrower than
    `MIN_CHANNELS_LAST_WIDTH`)."""
    narrow = narrowest_conv(network)
    return narrow is None or narrow >= MIN_CHANNELS_LAST_WIDTH


class DartsSupernet(nn.Module):
    """The lowered supernet plus its architecture weights.

    `forward(x)` returns the logits with mixing weights `softmax(alpha)`; `arch_override` lets the
    bilevel optimizer evaluate other alphas functionally. Parameters: `net.*` are the weights w,
    `arch.<template>` the alphas; `network_weights()` and `alphas()` return them separately.
    """

    def __init__(self, net: nn.Module, space: Model, *, channels_last: bool = False,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.net = net
        self.space = space
        self.channels_last = channels_last
        shapes = choice_shapes(space)
        self.arch = nn.ParameterDict({
            t: nn.Parameter(ALPHA_INIT_SCALE * torch.randn(*shape, generator=generator))
            for t, shape in shapes.items()})
        self.edge_ids: dict[str, list[str]] = {
            c.name: choice_edge_ids(c) for c in space.cells if c.name in shapes}
        network = getattr(net, "network", None)
        if channels_last and network is not None and not channels_last_safe(network):
            # a workaround, not a preference: even an explicit request would crash the process
            self.channels_last = channels_last = False
        if channels_last:
            self.net.to(memory_format=torch.channels_last)

    @classmethod
    def build(cls, space: Model, *, device: torch.device | str = "cpu",
              channels_last: bool | None = None) -> DartsSupernet:
        """Elaborate and lower the supernet IR of `space` (weights from torch's default init under
        the current global seed; alphas drawn after the weights)."""
        from nasc.analysis.elaborate import elaborate
        from nasc.lower import build_module

        sup = supernet(space)
        net = build_module(elaborate(sup))
        cl = use_channels_last(device) if channels_last is None else channels_last
        return cls(net, sup, channels_last=cl).to(device)

    # ---------------------------------------------------------------- parameters

    def network_weights(self) -> list[nn.Parameter]:
        """The network weights w (everything but the alphas)."""
        return list(self.net.parameters())

    def named_network_weights(self) -> list[tuple[str, nn.Parameter]]:
        """`(name, parameter)` of the weights, names as in `state_dict` (`net.cells.0...`)."""
        return [("net." + n, p) for n, p in self.net.named_parameters()]

    def alphas(self) -> list[nn.Parameter]:
        """The architecture weights, one matrix per cell template with choices (sorted by name)."""
        return [self.arch[t] for t in self.templates]

    @property
    def templates(self) -> list[str]:
        """Cell templates with architecture weights, in a fixed (sorted) order."""
        return sorted(self.arch.keys())

    def alpha_matrices(self) -> dict[str, list[list[float]]]:
        """The raw alphas as nested lists per template (what `derive` and logs take)."""
        return {t: self.arch[t].detach().cpu().tolist() for t in self.templates}

    def mixing_weights(self) -> dict[str, list[float]]:
        """softmax(alpha) per choice edge, keyed by template edge id (`normal.n2.e0`)."""
        out: dict[str, list[float]] = {}
        for t in self.templates:
            probs = F.softmax(self.arch[t].detach().double(), dim=-1).cpu().tolist()
            out.update(dict(zip(self.edge_ids[t], probs)))
        return out

    # ---------------------------------------------------------------- forward

    def mixing(self, alphas: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
        """The mixing weights per template: softmax over each row of the alphas."""
        src = alphas if alphas is not None else self.arch
        return {t: F.softmax(src[t], dim=-1) for t in self.templates}

    def forward(self, x: Tensor) -> Any:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x, self.mixing())
