"""The DARTS search strategy: train a supernet with architecture weights, derive the network.

    nasc search darts examples/darts_space.nas          # or, from Python:
    result = run_search("darts", "examples/darts_space.nas", cfg, run=run, events=sink)
    result.genotype, result.details["alphas"], result.details["history"]

Per step (nasc.train.trainer's loop, with the architecture step as its `pre_step` hook, like
Archai's BilevelArchTrainer): take a batch of the held-out half, update alpha
(`nasc.search.bilevel.Architect`, first or second order), then the weight step on the training
batch. Per epoch: validation on the held-out half (`val_loss`, `val_top1`), a row of
`alphas.jsonl` (raw alphas, softmax mixing weights per edge, the genotype derived so far),
TensorBoard scalars of the mean mixing weight per op, a log line with the genotype, and a
checkpoint (also every `trainer.checkpoint_every_steps` steps). The trainer's loop key is
`darts`; the architecture step's state (alpha optimizer, validation stream, alpha history) rides
in its checkpoint, so a killed run resumes bit-identically (same device and thread count).

Outputs besides the run layer's (`nasc.search.scaffold`): `alphas.jsonl` and `supernet.pt`
(the supernet's weights and alphas).

Under `torchrun --nproc_per_node N` (DARTS, PC-DARTS and GDAS are data-parallel): every rank
builds the same supernet and alphas from the run's seed, takes its shard of each training and
held-out batch (`batch_size / N` samples), the trainer wraps the supernet in DDP for the weight
step, and the `Architect` averages the architecture gradient over the ranks, so weights and
alphas stay identical on every rank after every step. The global random generators are seeded
alike on every rank (not per rank), so GDAS draws the same Gumbel noise everywhere. Rank 0
writes the run directory; every rank resumes from its checkpoint (each with its own RNG and
stream states).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import Field
from torch import Tensor

from nasc.atomic import atomic_save, atomic_write_text
from nasc.ir.model import Choice, Model
from nasc.search.genotype import genotype_or_none
from nasc.search.guards import SearchGuards
from nasc.search.strategy import Flag, SearchContext, SearchOutcome, SearchResult, SearchStrategy
from nasc.train.config import OptimizerSection, Section
from nasc.train.events import Message
from nasc.train.rundir import RunDir
from nasc.train.trainer import Callback, Trainer

if TYPE_CHECKING:
    from nasc.search.bilevel import Architect
    from nasc.search.darts_supernet import DartsSupernet
    from nasc.train.data import BatchStream, DataBundle
    from nasc.train.distributed import DistContext

LOOP_KEY = "darts"


class DartsSection(Section):
    """`search.darts`: the supernet size and the architecture optimizer."""

    channels: int | None = Field(None, ge=2, description="initial cell width C of the supernet "
                                                         "(None: the space's own)")
    cells: int | None = Field(None, ge=1, description="number of cells (None: the space's own)")
    params: dict[str, bool | int | float | str] = Field(
        default_factory=dict, description="overrides of the space's params (like `nasc check --set`)")
    order: Literal["first", "second"] = Field("second", description="architecture gradient: "
                                                                    "first | second (unrolled)")
    alpha_optimizer: OptimizerSection = Field(
        default_factory=lambda: OptimizerSection(name="adam", lr=3e-4, betas=(0.5, 0.999),
                                                 weight_decay=1e-3))
    channels_last: bool | None = Field(None, description="run the supernet in channels-last "
                                                         "memory format (None: on the CPU)")
    checkpoint_cells: bool = Field(False, description="activation checkpointing per cell: recompute "
                                                      "each cell in the backward (less memory, slower)")


# ------------------------------------------------------------------------------ the callback

class ArchStep(Callback):
    """The DARTS architecture step before each weight step, plus per-epoch validation and logs."""

    name = "darts"

    def __init__(self, architect: Architect, val_stream: BatchStream, space: Model,
                 run: RunDir | None, config: Any = None) -> None:
        self.architect = architect
        self.val = val_stream
        self.space = space
        self.run = run
        self.config = config
        self.history: list[dict[str, Any]] = []  # one row per epoch (alphas.jsonl)

    def pre_step(self, trainer: Trainer, x: Tensor, y: Tensor) -> None:
        x_val, y_val = self.val.next_batch()
        self.architect.step(x, y, x_val, y_val, trainer.optimizer, trainer.lr)

    def on_fit_start(self, trainer: Trainer) -> None:
        # the architecture step runs in the trainer's precision and process group
        self.architect.precision = trainer.precision
        self.architect.dist = trainer.dist
        self._write_history()  # drop rows a killed run wrote after its last checkpoint

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        from nasc.search.darts import derive

        model = self.architect.model
        metrics.update({f"val_{k}": v for k, v in trainer.evaluate(self.val.data).items()})
        from nasc.search.nb201_bench import derived_accuracy

        derived = derive(self.space, model.alpha_matrices())
        genotype = genotype_or_none(derived)
        row = {"epoch": epoch, "step": trainer.global_step, "alphas": model.alpha_matrices(),
               "mixing": model.mixing_weights(), "genotype": genotype}
        bench = derived_accuracy(self.config, derived) if self.config is not None else None
        if bench is not None:  # the true accuracy of the cell derived so far (NAS-Bench-201)
            row["benchmark"] = bench
            if bench["accuracy"] is not None:
                metrics["benchmark_top1"] = bench["accuracy"] / 100
        self.history.append(row)
        self._write_history()
        trainer.emit(Message(f"[darts] epoch {epoch + 1} genotype: {genotype}"
                             + (f"; benchmark: {bench['arch']} {bench['accuracy']}%"
                                if bench is not None and bench["accuracy"] is not None else "")))
        if self.run is not None:
            self.run.scalars(op_shares(model), step=trainer.global_step)

    def _write_history(self) -> None:
        if self.run is None or not self.run.enabled:
            return
        path = self.run.root / "alphas.jsonl"
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in self.history))

    def state_dict(self) -> dict[str, Any]:
        opt = self.architect.optimizer
        # every rank's held-out stream (its augmentation generator is its own)
        vals = self.architect.dist.all_gather_object(self.val.state_dict())
        return {"alpha_optimizer": opt.state_dict() if opt is not None else {},
                "val": vals[0], "val_ranks": vals, "history": json.dumps(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.architect.optimizer is not None and state.get("alpha_optimizer"):
            self.architect.optimizer.load_state_dict(state["alpha_optimizer"])
        dist = self.architect.dist
        vals = state.get("val_ranks") or [state["val"]]
        self.val.load_state_dict(vals[dist.rank] if len(vals) == dist.world_size else vals[0])
        self.history = json.loads(state.get("history", "[]"))


def op_shares(model: DartsSupernet) -> dict[str, float]:
    """Mean mixing weight of each candidate op over a template's choice edges
    (`darts/normal/sep_conv_3x3`): the usual picture of which ops DARTS is favouring."""
    out: dict[str, float] = {}
    for t in model.templates:
        cell = model.space.cell(t)
        assert cell is not None
        rows = [e.op.candidates for n in cell.nodes for e in n.edges if isinstance(e.op, Choice)]
        probs = torch.softmax(model.arch[t].detach().double(), dim=-1).tolist()
        sums: dict[str, list[float]] = {}
        for cands, row in zip(rows, probs):  # rows follow choice_edge_ids order
            for cand, p in zip(cands, row):
                sums.setdefault(cand.op, []).append(p)
        out.update({f"darts/{t}/{op}": sum(v) / len(v) for op, v in sums.items()})
    return out


# ------------------------------------------------------------------------------ setup

@dataclass
class DartsSetup:
    """The pieces of a DARTS search, as the strategy wires them (exposed for tests and tools)."""

    space: Model
    model: DartsSupernet
    data: DataBundle  # with a `val` stream (the held-out half)
    w_optimizer: torch.optim.Optimizer
    architect: Architect  # holds the alpha optimizer
    device: torch.device


def build_search(space: Model, config: Any, dist: DistContext | None = None) -> DartsSetup:
    """Seed, load the data (train / held-out split), build the supernet and both optimizers:
    SGD on the network weights only, the alpha optimizer on the alphas only. Under `dist` the
    streams give this rank its shard of each batch (see the module docstring)."""
    from nasc.search.bilevel import Architect
    from nasc.search.darts_supernet import DartsSupernet
    from nasc.search.space import fit_to_data
    from nasc.train.data import build_data
    from nasc.train.distributed import DistContext, resolve_device
    from nasc.train.optim import build_optimizer
    from nasc.train.runner import seed_everything

    dist = dist or DistContext()
    device = resolve_device(config.run.device, dist.local_rank)
    if config.run.threads is not None:
        torch.set_num_threads(config.run.threads)
    seed_everything(config.run.seed)  # not per rank: same init and random draws on every rank
    darts = config.search.darts
    data = dist.agree(lambda: build_data(config.data, device=device, seed=config.run.seed,
                                         val_fraction=config.search.val_fraction,
                                         rank=dist.rank, world_size=dist.world_size))
    space = fit_to_data(space, data.num_classes, data.input_shape)
    model = DartsSupernet.build(space, device=device, channels_last=darts.channels_last)
    model.net.checkpoint_cells = darts.checkpoint_cells  # type: ignore[union-attr]
    w_opt = build_optimizer(model.network_weights(), config.optimizer)
    a_opt = build_optimizer(model.alphas(), darts.alpha_optimizer)
    momentum = config.optimizer.momentum if config.optimizer.name == "sgd" else 0.0
    architect = Architect(model, a_opt, w_momentum=momentum,
                          w_weight_decay=config.optimizer.weight_decay, order=darts.order,
                          dist=dist)
    return DartsSetup(space, model, data, w_opt, architect, device)


# ------------------------------------------------------------------------------ the strategy

class DartsSearch(SearchStrategy):
    """DARTS (Liu et al., ICLR 2019): bi-level training of a supernet, then the DARTS rule."""

    name = "darts"
    section = DartsSection
    summary = "DARTS: train a supernet with architecture weights, derive the discrete network"
    default_config = "search_darts.yaml"
    flags = (Flag(("--first-order/--second-order",), "search.darts.order", bool,
                  "architecture gradient (default: the config's)", values=("first", "second")),)
    distributed = True  # data-parallel under torchrun (see the module docstring)

    def search(self, ctx: SearchContext) -> SearchOutcome:
        from nasc.search.darts import derive
        from nasc.train.trainer import Trainer

        config, run = ctx.config, ctx.run
        s = build_search(ctx.space, config, ctx.dist)
        model, data, darts = s.model, s.data, config.search.darts
        callback = ArchStep(s.architect, data.val, s.space, run, config)
        guards = SearchGuards.attach(ctx, s)  # collapse guards, cost budget (search.guards/cost)
        n_weights = sum(p.numel() for p in model.network_weights())
        run.log.add((LOOP_KEY, "setup"), {
            "space": ctx.source, "order": darts.order, "network_weights": n_weights,
            "alphas": {t: list(model.arch[t].shape) for t in model.templates},
            "train": len(data.train.data), "val": len(data.val.data),
            "channels_last": model.channels_last})
        ctx.events(Message(
            f"DARTS ({darts.order} order): {n_weights} weights, alphas "
            f"{', '.join(f'{t} {tuple(model.arch[t].shape)}' for t in model.templates)}; "
            f"data {data.dataset.name}: {len(data.train.data)} train / {len(data.val.data)} "
            f"held-out images; device {s.device}, {torch.get_num_threads()} threads"))
        trainer = Trainer(model, trainer=config.trainer, optimizer=config.optimizer,
                          schedule=config.schedule, device=s.device,
                          optimizer_instance=s.w_optimizer, callbacks=[callback, *guards.callbacks],
                          checkpoint=ctx.checkpoint, key=LOOP_KEY, run=run, events=ctx.events,
                          eval_batch_size=config.data.eval_batch_size, dist=ctx.dist)
        fit = trainer.fit(data.train, None)
        alphas = model.alpha_matrices()
        final = guards.derive(lambda: derive(s.space, alphas))
        genotype = genotype_or_none(final)
        root = run.root

        def save_supernet(path: Path) -> None:
            atomic_save({"state_dict": model.state_dict(), "alphas": alphas}, path)

        files: dict[str, Any] = {"supernet.pt": save_supernet, "alphas.jsonl": None}
        return SearchOutcome(
            final=final, genotype=genotype,
            header=(f"Derived by `nasc search darts` ({darts.order} order, {config.trainer.epochs} "
                    f"epochs, seed {config.run.seed}, data {config.data.dataset}) from {ctx.source}.\n"
                    f"Architecture weights and settings: provenance.json in {root}.\n{genotype}"),
            provenance={"order": darts.order, "alphas": alphas,
                        "mixing": model.mixing_weights(), **guards.provenance()},
            files=files,
            details={"alphas": alphas, "history": callback.history},
            message=f"final genotype: {genotype}", resumed=fit.resumed)

    def next_step(self, result: SearchResult) -> str | None:
        """The compile-and-train commands for the derived network: toy-sized (5 cells, C=8, a few
        minutes on a CPU) after a search on the built-in data, the paper's size otherwise."""
        raw = result.run.read_config() if result.run.enabled else {}
        toy = str((raw.get("data") or {}).get("dataset", "builtin")) == "builtin"
        size, train = ("--cells 5 --channels 8", "") if toy else ("--cells 20 --channels 36", " --full")
        final = result.paths.get("final.nas", "final.nas")
        return (f"nasc compile {final} -o model.pt {size} --aux --drop-path && "
                f"nasc train model.pt{train}")
