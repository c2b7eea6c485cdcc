"""`NascNet`: the `nn.Module` of an elaborated network, and `build_module` that makes it.

Lowering is an interpreter over the elaborated network (no code generation): stems, cells, head
and aux tower become modules named by their IR ids (`stems.0`, `cells.3.n2.e0.op`, `head`, `aux`),
and the forward runs a precomputed plan: which global states feed each cell, which states are
dead after each cell (released so eval does not hold every activation), where the aux tower reads.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from nasc.analysis.cost import check_memory_limit
from nasc.analysis.network import Network
from nasc.errors import ValidationError
from nasc.ir.model import Cell, Model
from nasc.ir.queries import choice_edge_ids
from nasc.lower.checkpointing import checkpointed
from nasc.lower.modules import CellModule, build_pipeline


class NascNet(nn.Module):
    """A lowered nasc network.

    `forward(x, arch=None)` returns the logits; in training mode a network with an aux tower returns
    `(logits, aux_logits)`. `arch` maps a cell template name to its `(n_choice_edges, n_candidates)`
    mixing weights (already normalised), needed when the network has choice edges. The trainer sets
    `drop_path_prob` (drop path is applied in training only, on edges marked `drop_path`).
    `checkpoint_cells = True` runs each cell under activation checkpointing while training with
    gradients (`nasc.lower.checkpointing`: same outputs and gradients, less memory).
    """

    def __init__(self, network: Network) -> None:
        super().__init__()
        self.network = network
        self.model: Model = network.model
        self.drop_path_prob: float = 0.0
        self.checkpoint_cells: bool = False
        self.aux_weight: float = float(network.aux_weight) if network.aux is not None else 0.0

        templates = {c.template for c in network.cells}
        rows = {t: choice_edge_ids(_template(network.model, t)) for t in sorted(templates)}
        # templates with choice edges, in a fixed order; cell i reads arch row block _tpl[i]
        self.arch_templates: list[str] = [t for t in rows if rows[t]]
        tpl_index = {t: i for i, t in enumerate(self.arch_templates)}
        row_of = {eid: r for ids in rows.values() for r, eid in enumerate(ids)}

        self.stems = nn.ModuleList([build_pipeline(s) for s in network.stems])
        self.cells = nn.ModuleList([CellModule(c, row_of) for c in network.cells])
        self.head = build_pipeline(network.head)
        self.aux = build_pipeline(network.aux) if network.aux is not None else None

        n_stems = len(network.stems)
        self._sources: list[list[int]] = [[i.source for i in c.inputs] for c in network.cells]
        self._tpl: list[int] = [tpl_index.get(c.template, -1) for c in network.cells]
        self._aux_after: int = network.aux_after if network.aux is not None and network.aux_after is not None else -1
        self._free_after_stems, self._free = _release_plan(n_stems, self._sources)

    def forward(self, x: Tensor, arch: Mapping[str, Tensor] | None = None) -> Tensor | tuple[Tensor, Tensor]:
        """Logits for the batch `x`; `(logits, aux_logits)` in training when there is an aux tower."""
        ws = self._arch_list(arch)
        states: list[Tensor | None] = []
        h = x
        for stem in self.stems:
            h = stem(h)
            states.append(h)
        for j in self._free_after_stems:
            states[j] = None
        training = self.training
        drop_prob = float(self.drop_path_prob) if training else 0.0
        aux_logits = None
        for i, cell in enumerate(self.cells):
            t = self._tpl[i]
            args = ([states[j] for j in self._sources[i]], ws[t] if t >= 0 else None, drop_prob)
            if self.checkpoint_cells and training and torch.is_grad_enabled():
                out = checkpointed(cell, *args)
            else:
                out = cell(*args)
            states.append(out)
            for j in self._free[i]:
                states[j] = None
            if i == self._aux_after and training:
                aux_logits = self.aux(out)
        logits = self.head(states[-1])
        if training and self.aux is not None:
            return logits, aux_logits
        return logits

    def _arch_list(self, arch: Mapping[str, Tensor] | None) -> list[Tensor]:
        if not self.arch_templates:
            return []
        if arch is None:
            raise ValidationError(
                f"network `{self.model.name}` has choice edges: pass architecture weights",
                hint=f"call net(x, arch={{...}}) with a matrix for each of: {', '.join(self.arch_templates)}")
        try:
            return [arch[t] for t in self.arch_templates]
        except KeyError as e:
            raise ValidationError(f"no architecture weights for cell template `{e.args[0]}`",
                                  hint=f"arch needs keys: {', '.join(self.arch_templates)}") from None


def _template(model: Model, name: str) -> Cell:
    cell = model.cell(name)
    if cell is None:  # elaborate guarantees templates exist; this guards a hand-built Network
        raise ValidationError(f"unknown cell template `{name}`")
    return cell


def _release_plan(n_stems: int, sources: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    """Which global states can be dropped after the stems and after each cell: a state is dead after
    its last reader. The final state (read by the head) and the current one are never dropped."""
    n_states = n_stems + len(sources)
    last_use = [-1] * n_states  # -1: not read by any cell (released after the stems / at creation)
    for i, srcs in enumerate(sources):
        for j in srcs:
            last_use[j] = max(last_use[j], i)
    final = n_states - 1
    after_stems = [j for j in range(n_stems) if last_use[j] < 0 and j != final]
    free: list[list[int]] = [[] for _ in sources]
    for j in range(n_states):
        if j == final:
            continue
        created = j - n_stems  # the cell that creates state j (negative: a stem)
        dead_at = max(last_use[j], created)
        if dead_at >= 0 and (last_use[j] >= 0 or created >= 0):
            free[dead_at].append(j)
    return after_stems, free


def build_module(network: Network) -> NascNet:
    """Lower an elaborated network to a `NascNet` (weights initialised by torch's defaults).

    A network whose weights and one forward would need more memory than the limit in force
    (`nasc.limits`; the analytic figures of `nasc.analysis.cost`) is refused with a
    `ValidationError` before any module is allocated."""
    check_memory_limit(network)
    return NascNet(network)
