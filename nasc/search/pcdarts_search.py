"""The PC-DARTS search strategy (Xu et al., "PC-DARTS: Partial Channel Connections for
Memory-Efficient Architecture Search", ICLR 2020).

    nasc search pc-darts examples/darts_space.nas            # or, from Python:
    result = run_search("pc-darts", "examples/darts_space.nas", cfg, run=run, events=sink)
    result.genotype, result.details["alphas"], result.details["betas"]

DARTS with two changes to the supernet (`PcDartsSupernet`):
- partial channel connections: on every choice edge only `C // k` channels go through the
  candidates, the rest bypass them, and the result is channel-shuffled with `k` groups
  (`nasc.lower.partial`); `search.pc_darts.k`, 4 by default as in the paper;
- edge normalisation: betas, one per choice edge, softmax over each node's choice edges, scale
  the edge outputs (`nasc.search.pcdarts`); the derivation ranks edges by softmax(alpha) max
  (without `none`) times that edge weight.

The search loop is DARTS' (the trainer with the architecture step before each weight step, first
order by default like the PC-DARTS code), except that the architecture is not updated during the
first `warmup_epochs` epochs (15 in the paper). Outputs as DARTS: `alphas.jsonl` (with the betas
and edge weights), `supernet.pt` (weights, alphas and betas), and the run layer's files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from nasc.atomic import atomic_save
from nasc.ir.model import Model
from nasc.ir.queries import choice_shapes
from nasc.search.darts_supernet import ALPHA_INIT_SCALE, DartsSupernet, use_channels_last
from nasc.search.oneshot import OneShotSection, OneShotStep, build_oneshot, setup_message
from nasc.search.guards import SearchGuards
from nasc.search.pcdarts import node_groups
from nasc.search.strategy import Flag, SearchContext, SearchOutcome, SearchResult, SearchStrategy
from nasc.train.events import Message
from nasc.train.trainer import Trainer

LOOP_KEY = "pc-darts"


class PcDartsSection(OneShotSection):
    """`search.pc_darts`: supernet size, partial channels, warm-up and the alpha optimizer."""

    k: int = Field(4, ge=1, description="partial channels: 1/k of each edge's channels go "
                                        "through the candidates (1: every channel, DARTS with "
                                        "edge normalisation)")
    warmup_epochs: int = Field(15, ge=0, description="epochs of weight training before the "
                                                     "architecture is updated")
    order: Literal["first", "second"] = Field("first", description="architecture gradient: "
                                                                   "first | second (unrolled)")


class PcDartsSupernet(DartsSupernet):
    """The DARTS supernet with partial-channel edges and edge-normalisation betas.

    Parameters: `net.*` (weights), `arch.<template>` (alphas), `beta.<template>` (one per choice
    edge); `alphas()` returns the alphas then the betas (the architecture optimizer takes both).
    The row each edge gets is `softmax(alpha)` followed by its edge weight.
    """

    def __init__(self, net: nn.Module, space: Model, *, k: int, channels_last: bool = False) -> None:
        super().__init__(net, space, channels_last=channels_last)
        self.k = k
        self.beta = nn.ParameterDict({
            t: nn.Parameter(ALPHA_INIT_SCALE * torch.randn(n))
            for t, (n, _) in choice_shapes(space).items()})
        self.groups: dict[str, list[tuple[int, int]]] = {
            c.name: node_groups(c) for c in space.cells if c.name in self.arch}

    @classmethod
    def build(cls, space: Model, *, k: int = 4, device: torch.device | str = "cpu",
              channels_last: bool | None = None) -> PcDartsSupernet:
        """Elaborate and lower the supernet of `space` with partial channels `k` (weights, then
        alphas, then betas drawn under the current global seed)."""
        from nasc.analysis.elaborate import elaborate
        from nasc.lower import build_module
        from nasc.lower.partial import partial_channels
        from nasc.search.darts import supernet

        sup = supernet(space)
        network = elaborate(sup)
        net = partial_channels(build_module(network), network, k)
        cl = use_channels_last(device) if channels_last is None else channels_last
        return cls(net, sup, k=k, channels_last=cl).to(device)

    def alphas(self) -> list[nn.Parameter]:
        """The architecture parameters: alphas (sorted by template), then betas."""
        return [self.arch[t] for t in self.templates] + [self.beta[t] for t in self.templates]

    def edge_weight(self, template: str) -> Tensor:
        """softmax(beta) over each node's choice edges: one weight per choice edge."""
        beta = self.beta[template]
        return torch.cat([F.softmax(beta[s:e], dim=0) for s, e in self.groups[template]])

    def beta_vectors(self) -> dict[str, list[float]]:
        """The raw betas per template (what `pcdarts.derive` takes)."""
        return {t: self.beta[t].detach().cpu().tolist() for t in self.templates}

    def edge_weights(self) -> dict[str, float]:
        """The edge weight of each choice edge, keyed by template edge id."""
        out: dict[str, float] = {}
        for t in self.templates:
            out.update(zip(self.edge_ids[t], self.edge_weight(t).detach().double().cpu().tolist()))
        return out

    def mixing(self, alphas: Any = None) -> dict[str, Tensor]:
        """Per template: `softmax(alpha)` per row with the edge weight as an extra last column."""
        src = alphas if alphas is not None else self.arch
        return {t: torch.cat([F.softmax(src[t], dim=-1), self.edge_weight(t).unsqueeze(1)], dim=1)
                for t in self.templates}


class PcArchStep(OneShotStep):
    """The architecture step after `warmup_epochs` epochs; PC-DARTS' derivation and betas."""

    def __init__(self, *args: Any, warmup_epochs: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.warmup_epochs = warmup_epochs

    def pre_step(self, trainer: Trainer, x: Tensor, y: Tensor) -> None:
        if trainer.epoch >= self.warmup_epochs:
            super().pre_step(trainer, x, y)

    def derived(self) -> Model:
        from nasc.search.pcdarts import derive

        model = self.architect.model
        assert isinstance(model, PcDartsSupernet)
        return derive(self.space, model.alpha_matrices(), model.beta_vectors())

    def row_extra(self) -> dict[str, Any]:
        model = self.architect.model
        assert isinstance(model, PcDartsSupernet)
        return {"betas": model.beta_vectors(), "edge_weights": model.edge_weights()}


class PcDartsSearch(SearchStrategy):
    """PC-DARTS: DARTS with partial channel connections and edge normalisation."""

    name = "pc-darts"
    section = PcDartsSection
    summary = "PC-DARTS: partial-channel supernet with edge normalisation, derived like DARTS"
    default_config = "search_pc_darts.yaml"
    flags = (Flag(("--k",), "search.pc_darts.k", int,
                  "partial channels: 1/K of each edge's channels are searched (default: the "
                  "config's)"),)
    distributed = True  # data-parallel under torchrun, as DARTS (`nasc.search.darts_search`)

    def search(self, ctx: SearchContext) -> SearchOutcome:
        from nasc.search.genotype import to_genotype
        from nasc.search.pcdarts import derive

        config, run = ctx.config, ctx.run
        pc: PcDartsSection = config.search.pc_darts
        s = build_oneshot(ctx.space, config, pc, lambda sp, dev, cl: PcDartsSupernet.build(
            sp, k=pc.k, device=dev, channels_last=cl), order=pc.order, dist=ctx.dist)
        model, data = s.model, s.data
        assert isinstance(model, PcDartsSupernet)
        callback = PcArchStep(LOOP_KEY, s.architect, data.val, s.space, run,
                              warmup_epochs=pc.warmup_epochs)
        guards = SearchGuards.attach(ctx, s)  # collapse guards, cost budget (search.guards/cost)
        run.log.add((LOOP_KEY, "setup"), {
            "space": ctx.source, "k": pc.k, "order": pc.order, "warmup_epochs": pc.warmup_epochs,
            "network_weights": sum(p.numel() for p in model.network_weights()),
            "alphas": {t: list(model.arch[t].shape) for t in model.templates},
            "betas": {t: list(model.beta[t].shape) for t in model.templates},
            "train": len(data.train.data), "val": len(data.val.data),
            "channels_last": model.channels_last})
        ctx.events(Message(setup_message(
            "PC-DARTS", f"K={pc.k}, {pc.order} order, {pc.warmup_epochs} warm-up epochs", s)))
        trainer = Trainer(model, trainer=config.trainer, optimizer=config.optimizer,
                          schedule=config.schedule, device=s.device,
                          optimizer_instance=s.w_optimizer, callbacks=[callback, *guards.callbacks],
                          checkpoint=ctx.checkpoint, key=LOOP_KEY, run=run, events=ctx.events,
                          eval_batch_size=config.data.eval_batch_size, dist=ctx.dist)
        fit = trainer.fit(data.train, None)
        alphas, betas = model.alpha_matrices(), model.beta_vectors()
        final = guards.derive(lambda: derive(s.space, alphas, betas))
        genotype = to_genotype(final)

        def save_supernet(path: Path) -> None:
            atomic_save({"state_dict": model.state_dict(), "alphas": alphas, "betas": betas,
                         "k": pc.k}, path)

        return SearchOutcome(
            final=final, genotype=genotype,
            header=(f"Derived by `nasc search pc-darts` (K={pc.k}, {pc.order} order, "
                    f"{config.trainer.epochs} epochs with {pc.warmup_epochs} of warm-up, seed "
                    f"{config.run.seed}, data {config.data.dataset}) from {ctx.source}.\n"
                    f"Architecture weights and settings: provenance.json in {run.root}.\n{genotype}"),
            provenance={"k": pc.k, "order": pc.order, "warmup_epochs": pc.warmup_epochs,
                        "alphas": alphas, "betas": betas, "mixing": model.mixing_weights(),
                        "edge_weights": model.edge_weights(), **guards.provenance()},
            files={"supernet.pt": save_supernet, "alphas.jsonl": None},
            details={"alphas": alphas, "betas": betas, "history": callback.history},
            message=f"final genotype: {genotype}", resumed=fit.resumed)

    def next_step(self, result: SearchResult) -> str | None:
        """As DARTS: compile the derived cells and train them."""
        from nasc.search.darts_search import DartsSearch

        return DartsSearch.next_step(self, result)  # type: ignore[arg-type]
