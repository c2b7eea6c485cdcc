"""Collapse guards and the cost budget of the differentiable searches (DARTS, PC-DARTS, GDAS):
one config section each (`search.guards`, `search.cost`), one object a strategy wires in.

    guards = SearchGuards.attach(ctx, setup)          # installs the cost penalty on the Architect
    Trainer(..., callbacks=[arch_step, *guards.callbacks])
    final = guards.derive(lambda: derive(setup.space, alphas))   # the method's rule unless a guard
    SearchOutcome(..., provenance={..., **guards.provenance()})  # changes the derivation

The guards, each with the paper it follows:

- `max_skip` (P-DARTS, Chen et al., ICCV 2019): at most M skip connections per normal cell at
  derivation, the weakest replaced by the next-best non-skip op or edge (`nasc.passes.skip_cap`,
  the `finalize` pass's `max_skip` option). M = 2 in the paper.
- `stop_skip` (DARTS+, Liang et al., 2019): stop the search after the epoch whose derived normal
  cell has at least that many skip connections (2 in the paper); the network is derived from the
  alphas at that point.
- `eigen_threshold` (RobustDARTS' DARTS-ES, Zela et al., ICLR 2020): after each epoch, the
  dominant eigenvalue of the Hessian of the validation loss with respect to the alphas, by power
  iteration on Hessian-vector products (central differences of the alpha gradient); with
  `lam(i)` the mean over the `eigen_window` epochs up to i, stop at epoch i when
  `lam(i - k) / lam(i) < threshold` (k = the window; the paper: k = 5, threshold 0.75) and derive
  from the alphas of epoch i - k (`eigen_rollback`).
- `selection: pt` (DARTS-PT, Wang et al., ICLR 2021): the network is selected by perturbation at
  the end of the search (`nasc.search.perturbation`).

An early stop ends the trainer's loop cleanly after the epoch (`Trainer.request_stop`): the
checkpoint, metrics and every output are written, and `provenance.json` says which guard
stopped the run, why and after which epoch. The state rides in the checkpoint, so a resumed run
stops where the original did.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import Field

from nasc.ir.model import Choice, Model
from nasc.train.config import Section
from nasc.train.events import Message
from nasc.train.trainer import Callback, Trainer

if TYPE_CHECKING:
    from nasc.search.cost_objective import CostPenalty
    from nasc.search.darts_search import DartsSetup
    from nasc.search.darts_supernet import DartsSupernet
    from nasc.search.strategy import SearchContext


class GuardsSection(Section):
    """`search.guards`: collapse guards of the differentiable searches (all off by default)."""

    max_skip: int | None = Field(None, ge=0, description="P-DARTS: at most this many skip "
                                                         "connections per derived cell (paper: 2)")
    skip_cells: Literal["normal", "all"] = Field("normal", description="cells max_skip and "
                                                 "stop_skip count in: the normal template | all")
    stop_skip: int | None = Field(None, ge=1, description="DARTS+: stop after the epoch whose "
                                                          "derived normal cell has this many skip "
                                                          "connections (paper: 2)")
    eigen_threshold: float | None = Field(None, gt=0, description="RobustDARTS (DARTS-ES): stop "
                                          "when mean eigenvalue(i - window) / mean eigenvalue(i) "
                                          "falls below this (paper: 0.75)")
    eigen_window: int = Field(5, ge=1, description="DARTS-ES: epochs averaged, and the look-back "
                                                   "k (paper: 5)")
    eigen_iters: int = Field(10, ge=1, description="power iterations per eigenvalue estimate")
    eigen_batches: int = Field(2, ge=1, description="held-out batches the Hessian is taken on")
    eigen_rollback: bool = Field(True, description="DARTS-ES: derive from the alphas of epoch "
                                                   "i - window after a stop")
    selection: Literal["rule", "pt"] = Field("rule", description="rule: the method's own "
                                             "derivation | pt: DARTS-PT perturbation selection")
    pt_edges: Literal["pt", "rule"] = Field("pt", description="DARTS-PT topology: edges per node "
                                            "by perturbation (pt) or by the method's rule")
    pt_batches: int | None = Field(None, ge=1, description="DARTS-PT: held-out batches per "
                                                           "evaluation (None: all)")

    @property
    def epoch_hooks(self) -> bool:
        """Whether a guard runs after each epoch."""
        return self.stop_skip is not None or self.eigen_threshold is not None

    @property
    def changes_derivation(self) -> bool:
        """Whether the final derivation differs from the method's own."""
        return self.max_skip is not None or self.selection == "pt"


# ------------------------------------------------------------------------------ shared pieces

def edge_probs(model: DartsSupernet, space: Model) -> dict[str, list[float]]:
    """The method's derivation probabilities per choice edge id: PC-DARTS' edge strengths
    (softmax(alpha) times the edge weight) for a supernet with betas, else softmax(alpha)."""
    from nasc.passes.finalize import scores_from_matrices, softmax

    betas = getattr(model, "beta_vectors", None)
    if betas is not None:
        from nasc.search.pcdarts import edge_strengths

        return edge_strengths(space, model.alpha_matrices(), betas())
    return {k: softmax(v) for k, v in scores_from_matrices(space, model.alpha_matrices()).items()}


def skip_count(space: Model, final: Model, cells: str = "normal") -> int:
    """Skip connections the derivation chose (fixed skip edges of the space not counted) in the
    templates `cells` names, summed over the templates."""
    from nasc.passes.skip_cap import SKIP_OPS, capped_templates

    n = 0
    for name in capped_templates(space, cells):
        cell, fcell = space.cell(name), final.cell(name)
        if cell is None or fcell is None:
            continue
        fixed = sum(1 for nd in cell.nodes for e in nd.edges
                    if not isinstance(e.op, Choice) and e.op.op in SKIP_OPS)
        n += sum(1 for nd in fcell.nodes for e in nd.edges
                 if not isinstance(e.op, Choice) and e.op.op in SKIP_OPS) - fixed
    return n


def dominant_eigenvalue(model: DartsSupernet, batches: list[tuple[torch.Tensor, torch.Tensor]],
                        *, iters: int = 10, seed: int = 0, fd: float = 1e-3) -> float:
    """The dominant eigenvalue of the Hessian of the mean validation loss on `batches` with
    respect to the alphas (`model.arch`, all templates as one vector), by power iteration:
    `v <- Hv / |Hv|`, the Hessian-vector product by central differences of the alpha gradient,
    `(g(a + fd v) - g(a - fd v)) / (2 fd)` (|v| = 1), the eigenvalue the Rayleigh quotient `v.Hv`.

    The model runs in training mode (batch statistics, as the search's loss); its buffers, its
    alphas and the global random state are restored afterwards, and each gradient draws the same
    random numbers (GDAS' Gumbel noise), so the loss is one smooth function of the alphas."""
    import torch.nn.functional as F

    alphas = [model.arch[t] for t in model.templates]
    saved = [a.detach().clone() for a in alphas]
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    was_training = model.training

    def grad_at(v: list[torch.Tensor] | None, sign: float) -> list[torch.Tensor]:
        with torch.no_grad():
            for a, s, d in zip(alphas, saved, v or [None] * len(alphas)):
                a.copy_(s if d is None else s + sign * fd * d)
        total = [torch.zeros_like(a) for a in alphas]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for x, y in batches:
                out = model(x)
                logits = out[0] if isinstance(out, (tuple, list)) else out
                loss = F.cross_entropy(logits, y) / len(batches)
                gs = torch.autograd.grad(loss, alphas, allow_unused=True, materialize_grads=True)
                total = [t + g.detach() for t, g in zip(total, gs)]
        return total

    gen = torch.Generator().manual_seed(seed)
    v = [torch.randn(a.shape, generator=gen).to(a) for a in alphas]
    lam = 0.0
    try:
        model.train()
        for _ in range(iters):
            norm = torch.sqrt(sum((d * d).sum() for d in v))
            v = [d / norm for d in v]
            gp, gm = grad_at(v, 1.0), grad_at(v, -1.0)
            hv = [(p - m) / (2 * fd) for p, m in zip(gp, gm)]
            lam = float(sum((d * h).sum() for d, h in zip(v, hv)))
            hnorm = torch.sqrt(sum((h * h).sum() for h in hv))
            if float(hnorm) == 0.0:
                break
            v = hv
    finally:
        with torch.no_grad():
            for a, s in zip(alphas, saved):
                a.copy_(s)
            for n, b in model.named_buffers():
                b.copy_(buffers[n])
        model.train(was_training)
    return lam


# ------------------------------------------------------------------------------ the epoch hook

class GuardStep(Callback):
    """After each epoch: the skip count (DARTS+), the Hessian's dominant eigenvalue (DARTS-ES),
    the expected cost; stops the trainer when a guard says so."""

    name = "guards"

    def __init__(self, section: GuardsSection, model: DartsSupernet, space: Model,
                 val_data: Any, *, batch_size: int, seed: int,
                 penalty: CostPenalty | None = None) -> None:
        self.section = section
        self.model = model
        self.space = space
        self.val_data = val_data
        self.batch_size = batch_size
        self.seed = seed
        self.penalty = penalty
        self.eigenvalues: list[float] = []
        self.snapshots: list[list[torch.Tensor]] = []  # the architecture parameters per epoch
        self.stop: dict[str, Any] | None = None

    def on_fit_start(self, trainer: Trainer) -> None:
        if self.stop is not None:  # a resumed run that had stopped: stop again
            trainer.request_stop(self.stop["reason"])

    def _batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        from nasc.train.data import eval_batches

        out = []
        for i, (x, y) in enumerate(eval_batches(self.val_data, self.batch_size)):
            if i >= self.section.eigen_batches:
                break
            out.append((x, y))
        return out

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        from nasc.passes.finalize import finalize

        g = self.section
        if self.stop is not None:
            return
        self.snapshots.append([p.detach().clone() for p in self.model.alphas()])
        if self.penalty is not None:
            with torch.no_grad():
                metrics[f"expected_{self.penalty.table.metric}"] = float(
                    self.penalty.expected(dict(self.model.arch.items())))
        if g.stop_skip is not None:
            derived = finalize(self.space, edge_probs(self.model, self.space), logits=False)
            n = skip_count(self.space, derived, g.skip_cells)
            metrics["skip_count"] = n
            if n >= g.stop_skip:
                where = "normal cell has" if g.skip_cells == "normal" else "cells have"
                self._stop(trainer, epoch, "darts+", f"the derived {where} {n} skip "
                           f"connections (stop_skip: {g.stop_skip})")
                return
        if g.eigen_threshold is not None:
            lam = dominant_eigenvalue(self.model, self._batches(), iters=g.eigen_iters,
                                      seed=self.seed + epoch)
            if trainer.dist.enabled:  # each rank saw its own held-out shard: the mean
                t = torch.tensor([lam], dtype=torch.float64, device=trainer.device)
                lam = float(trainer.dist.all_reduce_sum(t)[0]) / trainer.dist.world_size
            self.eigenvalues.append(lam)
            metrics["hessian_eigenvalue"] = lam
            k = w = g.eigen_window
            i = len(self.eigenvalues) - 1
            if i - k >= w - 1:
                now = sum(self.eigenvalues[i - w + 1:i + 1]) / w
                then = sum(self.eigenvalues[i - k - w + 1:i - k + 1]) / w
                if now > 0 and then / now < g.eigen_threshold:
                    rollback = epoch - k if g.eigen_rollback else None
                    self._stop(trainer, epoch, "darts-es",
                               f"mean Hessian eigenvalue rose from {then:.4g} to {now:.4g} "
                               f"(ratio {then / now:.3f} < {g.eigen_threshold:g})",
                               rollback=rollback)

    def _stop(self, trainer: Trainer, epoch: int, guard: str, reason: str,
              rollback: int | None = None) -> None:
        self.stop = {"guard": guard, "reason": reason, "epoch": epoch,
                     "epochs_planned": trainer.epochs}
        if rollback is not None:
            self.stop["alphas_from_epoch"] = rollback
        trainer.request_stop(reason)
        trainer.emit(Message(f"[{trainer.key}] early stop ({guard}) after epoch {epoch + 1} of "
                             f"{trainer.epochs}: {reason}"
                             + (f"; deriving from the alphas of epoch {rollback + 1}"
                                if rollback is not None else "")))

    def on_fit_end(self, trainer: Trainer, result: Any) -> None:
        back = (self.stop or {}).get("alphas_from_epoch")
        if back is not None and 0 <= back < len(self.snapshots):
            with torch.no_grad():
                for p, s in zip(self.model.alphas(), self.snapshots[back]):
                    p.copy_(s)

    def state_dict(self) -> dict[str, Any]:
        return {"eigenvalues": list(self.eigenvalues), "snapshots": self.snapshots,
                "stop": dict(self.stop) if self.stop is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.eigenvalues = [float(x) for x in state.get("eigenvalues", [])]
        self.snapshots = [list(s) for s in state.get("snapshots", [])]
        self.stop = dict(state["stop"]) if state.get("stop") is not None else None


# ------------------------------------------------------------------------------ the wiring

class SearchGuards:
    """What a differentiable strategy wires in: the cost penalty, the epoch hook, the final
    derivation and the provenance of both (see the module docstring)."""

    def __init__(self, section: GuardsSection, setup: DartsSetup, config: Any,
                 penalty: CostPenalty | None, cost_info: dict[str, Any] | None) -> None:
        self.section = section
        self.setup = setup
        self.config = config
        self.penalty = penalty
        self.cost_info = cost_info
        self.step: GuardStep | None = None
        self.selection: dict[str, Any] | None = None
        if section.epoch_hooks or penalty is not None:
            self.step = GuardStep(section, setup.model, setup.space, setup.data.val.data,
                                  batch_size=config.data.batch_size, seed=config.run.seed,
                                  penalty=penalty)

    @classmethod
    def attach(cls, ctx: SearchContext, setup: DartsSetup) -> SearchGuards:
        """Read `search.guards` and `search.cost`, install the cost penalty (if any) on the
        setup's `Architect`, and log both in the run's structured log."""
        config = ctx.config
        section: GuardsSection = config.search.guards
        cost = config.search.cost
        penalty, info = None, None
        if cost.active:
            from nasc.search.cost_objective import build_penalty

            root = ctx.run.root if ctx.run.enabled else None
            penalty, info = build_penalty(cost, setup.space, device=setup.device, run_root=root)
            arch = setup.model.arch
            setup.architect.penalty = lambda: penalty(dict(arch.items()))
        out = cls(section, setup, config, penalty, info)
        if section != GuardsSection() or info is not None:
            ctx.run.log.add((ctx.name, "guards"), {"guards": section.model_dump(mode="json"),
                                                    "cost": info})
        return out

    @property
    def callbacks(self) -> list[Callback]:
        """The trainer callbacks to add (the epoch hook, when a guard or the cost needs it)."""
        return [self.step] if self.step is not None else []

    def derive(self, default: Callable[[], Model]) -> Model:
        """The final network: `default()` (the method's derivation) unless the skip cap or DARTS-PT
        changes it; then the method's probabilities (or DARTS-PT's scores) through `finalize`
        with the cap, affine batch norms as `derive` makes them."""
        g = self.section
        if not g.changes_derivation:
            return default()
        from nasc.passes.affine_bn import set_affine
        from nasc.passes.finalize import finalize

        s = self.setup
        probs = edge_probs(s.model, s.space)
        if g.selection == "pt":
            from nasc.search.perturbation import pt_select

            probs, self.selection = pt_select(
                s.model, s.space, s.data.val.data, batch_size=self.config.data.eval_batch_size,
                batches=g.pt_batches, edges=g.pt_edges, seed=self.config.run.seed,
                edge_probs=probs, dist=getattr(s.architect, "dist", None))
        final = finalize(s.space, probs, logits=False, max_skip=g.max_skip, skip_cells=g.skip_cells)
        return set_affine(final, True)

    def provenance(self) -> dict[str, Any]:
        """What `provenance.json` records: the guards in force, an early stop, DARTS-PT's
        record, the cost budget and the expected cost of the final alphas."""
        out: dict[str, Any] = {}
        g = self.section
        if g != GuardsSection():
            out["guards"] = g.model_dump(mode="json")
        if self.step is not None and self.step.stop is not None:
            out["early_stop"] = dict(self.step.stop)
        if self.step is not None and self.step.eigenvalues:
            out["hessian_eigenvalues"] = list(self.step.eigenvalues)
        if self.selection is not None:
            out["selection"] = self.selection
        if self.penalty is not None and self.cost_info is not None:
            with torch.no_grad():
                e = float(self.penalty.expected(dict(self.setup.model.arch.items())))
            out["cost"] = {**self.cost_info, "expected_final": e}
        return out


def guard_sections() -> Mapping[str, type[Section]]:
    """The config sections this module owns (registered by `nasc.search.registry`)."""
    from nasc.search.cost_objective import CostSection

    return {"search.guards": GuardsSection, "search.cost": CostSection}
