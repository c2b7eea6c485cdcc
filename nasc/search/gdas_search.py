"""The GDAS search strategy (Dong & Yang, "Searching for A Robust Neural Architecture in Four GPU
Hours", CVPR 2019).

    nasc search gdas examples/darts_space.nas                # or, from Python:
    result = run_search("gdas", "examples/darts_space.nas", cfg, run=run, events=sink)

Each forward of the supernet (`GdasSupernet`) samples one candidate per choice edge with the
Gumbel-softmax: `probs = softmax((log_softmax(alpha) + g) / tau)`, `g` standard Gumbel noise, and
uses the straight-through hard weights `hardwts = one_hot(argmax probs) - probs.detach() + probs`
(one-hot in value, the gradient of `probs`). Every edge runs only its sampled candidate
(`nasc.lower.onepath`), so an iteration costs about one discrete network; the gradient reaches
every alpha of the edge through the softmax. In evaluation mode the supernet runs each edge's
argmax candidate (no noise).

Per step, as in GDAS' code: the weight step on the training batch, then the architecture step
on a held-out batch (first order: `dL_val / dalpha`, Adam). The temperature falls linearly from
`tau_max` (10) at the first epoch to `tau_min` (0.1) at the last. The network is derived with the
DARTS rule from the alphas. Outputs as DARTS: `alphas.jsonl` (with `tau`), `supernet.pt`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import Tensor, nn

from nasc.atomic import atomic_save
from nasc.errors import ConfigError
from nasc.ir.model import Model
from nasc.search.darts_supernet import DartsSupernet, use_channels_last
from nasc.search.guards import SearchGuards
from nasc.search.oneshot import OneShotSection, OneShotStep, build_oneshot, setup_message
from nasc.search.strategy import SearchContext, SearchOutcome, SearchResult, SearchStrategy
from nasc.train.events import Message
from nasc.train.trainer import Trainer

LOOP_KEY = "gdas"


class GdasSection(OneShotSection):
    """`search.gdas`: supernet size, the Gumbel temperature schedule and the alpha optimizer."""

    tau_max: float = Field(10.0, gt=0, description="Gumbel-softmax temperature at the first epoch")
    tau_min: float = Field(0.1, gt=0, description="temperature at the last epoch (linear in between)")

    @model_validator(mode="after")
    def _order(self) -> GdasSection:
        if self.tau_min > self.tau_max:
            raise ConfigError(f"search.gdas.tau_min ({self.tau_min}) is above tau_max "
                              f"({self.tau_max})", key="search.gdas.tau_min",
                              hint="the temperature falls from tau_max to tau_min")
        return self


def tau_at(epoch: int, epochs: int, tau_max: float, tau_min: float) -> float:
    """GDAS' schedule: `tau_max` at epoch 0, `tau_min` at epoch `epochs - 1`, linear between."""
    if epochs <= 1:
        return tau_max
    return tau_max - (tau_max - tau_min) * epoch / (epochs - 1)


def gumbel_hard(alpha: Tensor, tau: float) -> Tensor:
    """Straight-through Gumbel-softmax rows: one-hot in value (the argmax of the noisy softmax),
    the gradient of the soft probabilities. Draws from the global generator of alpha's device."""
    logp = F.log_softmax(alpha, dim=-1)
    # clamped so that an exponential draw of exactly 0 cannot give an infinite Gumbel sample
    # (GDAS redraws instead; clamping keeps one draw per call, so resumed runs stay identical)
    e = torch.empty_like(logp).exponential_().clamp_min_(torch.finfo(logp.dtype).tiny)
    probs = F.softmax((logp - e.log()) / tau, dim=-1)
    hard = torch.zeros_like(probs).scatter_(-1, probs.detach().argmax(-1, keepdim=True), 1.0)
    return hard - probs.detach() + probs


class GdasSupernet(DartsSupernet):
    """The DARTS supernet with one-path choice edges and Gumbel-sampled hard mixing weights.

    `tau` is the current temperature (the search sets it each epoch). Training mode: a fresh
    sample per forward per template; evaluation mode: the one-hot argmax of the alphas.
    """

    def __init__(self, net: nn.Module, space: Model, *, channels_last: bool = False,
                 tau: float = 10.0) -> None:
        super().__init__(net, space, channels_last=channels_last)
        self.tau = float(tau)

    @classmethod
    def build(cls, space: Model, *, device: torch.device | str = "cpu",
              channels_last: bool | None = None, tau: float = 10.0) -> GdasSupernet:
        """Elaborate and lower the supernet of `space` with one-path edges (weights, then alphas,
        drawn under the current global seed)."""
        from nasc.analysis.elaborate import elaborate
        from nasc.lower import build_module
        from nasc.lower.onepath import one_path
        from nasc.search.darts import supernet

        sup = supernet(space)
        net = one_path(build_module(elaborate(sup)))
        cl = use_channels_last(device) if channels_last is None else channels_last
        return cls(net, sup, channels_last=cl, tau=tau).to(device)

    def mixing(self, alphas: Any = None) -> dict[str, Tensor]:
        """Per template: hard Gumbel rows in training, argmax one-hot rows in evaluation."""
        src = alphas if alphas is not None else self.arch
        if self.training:
            return {t: gumbel_hard(src[t], self.tau) for t in self.templates}
        return {t: F.one_hot(src[t].detach().argmax(-1), src[t].shape[-1]).to(src[t].dtype)
                for t in self.templates}


class GdasStep(OneShotStep):
    """GDAS' order: the architecture step after each weight step; the temperature per epoch."""

    def __init__(self, *args: Any, tau_max: float, tau_min: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tau_max, self.tau_min = tau_max, tau_min

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        model = self.architect.model
        assert isinstance(model, GdasSupernet)
        model.tau = tau_at(epoch, trainer.epochs, self.tau_max, self.tau_min)

    def pre_step(self, trainer: Trainer, x: Tensor, y: Tensor) -> None:
        """Nothing: GDAS updates the architecture after the weights."""

    def post_step(self, trainer: Trainer, x: Tensor, y: Tensor, loss: Tensor) -> None:
        x_val, y_val = self.val.next_batch()
        self.architect.step(x, y, x_val, y_val, trainer.optimizer, trainer.lr)

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        model = self.architect.model
        assert isinstance(model, GdasSupernet)
        metrics["tau"] = model.tau
        super().on_epoch_end(trainer, epoch, metrics)

    def row_extra(self) -> dict[str, Any]:
        model = self.architect.model
        assert isinstance(model, GdasSupernet)
        return {"tau": model.tau}


class GdasSearch(SearchStrategy):
    """GDAS: one sampled path per edge (hard Gumbel-softmax), derived with the DARTS rule."""

    name = "gdas"
    section = GdasSection
    summary = "GDAS: sample one candidate per edge with a hard Gumbel-softmax, derive like DARTS"
    default_config = "search_gdas.yaml"
    # data-parallel under torchrun as DARTS (`nasc.search.darts_search`): every rank draws the
    # same Gumbel noise (global generators seeded alike), so every rank runs the same paths and
    # the run equals a one-process run at the same global batch
    distributed = True

    def search(self, ctx: SearchContext) -> SearchOutcome:
        from nasc.search.darts import derive
        from nasc.search.genotype import to_genotype

        config, run = ctx.config, ctx.run
        g: GdasSection = config.search.gdas
        s = build_oneshot(ctx.space, config, g, lambda sp, dev, cl: GdasSupernet.build(
            sp, device=dev, channels_last=cl, tau=g.tau_max), dist=ctx.dist)
        model, data = s.model, s.data
        callback = GdasStep(LOOP_KEY, s.architect, data.val, s.space, run,
                            tau_max=g.tau_max, tau_min=g.tau_min)
        guards = SearchGuards.attach(ctx, s)  # collapse guards, cost budget (search.guards/cost)
        run.log.add((LOOP_KEY, "setup"), {
            "space": ctx.source, "tau_max": g.tau_max, "tau_min": g.tau_min,
            "network_weights": sum(p.numel() for p in model.network_weights()),
            "alphas": {t: list(model.arch[t].shape) for t in model.templates},
            "train": len(data.train.data), "val": len(data.val.data),
            "channels_last": model.channels_last})
        ctx.events(Message(setup_message("GDAS", f"tau {g.tau_max:g} -> {g.tau_min:g}", s)))
        # one path per edge: the candidates not drawn get no gradient, which DDP must be told
        trainer_cfg = config.trainer.model_copy(update={"ddp_find_unused": True})
        trainer = Trainer(model, trainer=trainer_cfg, optimizer=config.optimizer,
                          schedule=config.schedule, device=s.device,
                          optimizer_instance=s.w_optimizer, callbacks=[callback, *guards.callbacks],
                          checkpoint=ctx.checkpoint, key=LOOP_KEY, run=run, events=ctx.events,
                          eval_batch_size=config.data.eval_batch_size, dist=ctx.dist)
        fit = trainer.fit(data.train, None)
        alphas = model.alpha_matrices()
        final = guards.derive(lambda: derive(s.space, alphas))
        genotype = to_genotype(final)

        def save_supernet(path: Path) -> None:
            atomic_save({"state_dict": model.state_dict(), "alphas": alphas}, path)

        return SearchOutcome(
            final=final, genotype=genotype,
            header=(f"Derived by `nasc search gdas` (tau {g.tau_max:g} -> {g.tau_min:g}, "
                    f"{config.trainer.epochs} epochs, seed {config.run.seed}, data "
                    f"{config.data.dataset}) from {ctx.source}.\n"
                    f"Architecture weights and settings: provenance.json in {run.root}.\n{genotype}"),
            provenance={"tau_max": g.tau_max, "tau_min": g.tau_min, "alphas": alphas,
                        "mixing": model.mixing_weights(), **guards.provenance()},
            files={"supernet.pt": save_supernet, "alphas.jsonl": None},
            details={"alphas": alphas, "history": callback.history},
            message=f"final genotype: {genotype}", resumed=fit.resumed)

    def next_step(self, result: SearchResult) -> str | None:
        """As DARTS: compile the derived cells and train them."""
        from nasc.search.darts_search import DartsSearch

        return DartsSearch.next_step(self, result)  # type: ignore[arg-type]
