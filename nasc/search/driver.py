"""The DARTS search loop: a space file and a config in, a run directory with the derived network out.

    from nasc.search.driver import search_darts, resume_darts
    cfg = load_config("examples/configs/search_darts.yaml", overrides=["trainer.epochs=3"])
    run = RunDir.create("search-darts"); run.write_config(cfg)
    result = search_darts("examples/darts_space.nas", cfg, run=run, events=sink)
    result.final, result.genotype, result.paths["final.nas"]
    result = resume_darts("runs/search-darts-...", events=sink)    # a killed run continues

Per step (nasc.train.trainer's loop, with the architecture step as its `pre_step` hook, like
Archai's BilevelArchTrainer): take a batch of the held-out half, update alpha
(`nasc.search.bilevel.Architect`, first or second order), then the weight step on the training
batch. Per epoch: validation on the held-out half (`val_loss`, `val_top1`), a row of
`alphas.jsonl` (raw alphas, softmax weights per edge, the genotype derived so far), TensorBoard
scalars of the mean mixing weight per op, a log line with the genotype, and a checkpoint (also
every `trainer.checkpoint_every_steps` steps). The trainer's loop key is `darts`; the
architecture step's state (alpha optimizer, validation stream, alpha history) rides in its
checkpoint, so a killed run resumes bit-identically (same device and thread count).

Outputs in the run directory: `space.nas` (the space at search size, read back on resume),
`final.nas` / `final.yaml` (the derived network at search size), `genotype.txt`, `alphas.jsonl`,
`provenance.json`, `supernet.pt` (weights and alphas), `cells.svg` when graphviz can draw it,
plus the run dir's usual config, logs, metrics, tb/ and checkpoints/.
"""
from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import Field
from torch import Tensor

from nasc.errors import ConfigError, NascError
from nasc.ir.expr import Ref
from nasc.atomic import atomic_write_text
from nasc.ir.model import Choice, Model
from nasc.search import runs
from nasc.train.config import OptimizerSection, Section, register_section
from nasc.train.events import EventSink, Message, fanout
from nasc.train.rundir import RunDir
from nasc.train.trainer import Callback, Trainer

if TYPE_CHECKING:
    from nasc.search.bilevel import Architect
    from nasc.search.darts import DartsSupernet
    from nasc.train.data import BatchStream, DataBundle

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


register_section("search.darts", DartsSection)


@dataclass
class SearchResult:
    """What a DARTS search produced."""

    run: RunDir
    space: Model
    final: Model
    genotype: str
    alphas: dict[str, list[list[float]]]
    history: list[dict[str, Any]] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)
    resumed: bool = False


# ------------------------------------------------------------------------------ the space

def prepare_space(space: Model, config: Any) -> Model:
    """The space as searched: param overrides, then the supernet size (`scale-up`)."""
    return runs.prepare_space(space, config.search.darts)


def _fit_to_data(space: Model, classes: int, shape: tuple[int, int, int]) -> Model:
    """Set the space's class count from the data when it is a param (`classes = classes`)."""
    from nasc.frontend import apply_overrides
    from nasc.passes.common import eval_in_model

    if tuple(eval_in_model(space, e) for e in space.input) != tuple(shape):
        raise ConfigError(f"the data has images of shape {shape}, the space `{space.name}` expects "
                          f"{tuple(eval_in_model(space, e) for e in space.input)}",
                          key="data.dataset", hint="pick a dataset of the space's input shape")
    have = eval_in_model(space, space.classes)
    if have == classes:
        return space
    if isinstance(space.classes, Ref) and any(p.name == space.classes.name for p in space.params):
        return apply_overrides(space, {space.classes.name: classes})
    raise ConfigError(f"the data has {classes} classes, the space `{space.name}` has {have}",
                      key="data.dataset", hint="set the space's classes to the dataset's")


# ------------------------------------------------------------------------------ the callback

class ArchStep(Callback):
    """The DARTS architecture step before each weight step, plus per-epoch validation and logs."""

    name = "darts"

    def __init__(self, architect: Architect, val_stream: BatchStream, space: Model,
                 run: RunDir | None) -> None:
        self.architect = architect
        self.val = val_stream
        self.space = space
        self.run = run
        self.history: list[dict[str, Any]] = []  # one row per epoch (alphas.jsonl)

    def pre_step(self, trainer: Trainer, x: Tensor, y: Tensor) -> None:
        x_val, y_val = self.val.next_batch()
        self.architect.step(x, y, x_val, y_val, trainer.optimizer, trainer.lr)

    def on_fit_start(self, trainer: Trainer) -> None:
        self._write_history()  # drop rows a killed run wrote after its last checkpoint

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        from nasc.search.darts import derive
        from nasc.search.genotype import to_genotype

        model = self.architect.model
        metrics.update({f"val_{k}": v for k, v in trainer.evaluate(self.val.data).items()})
        genotype = to_genotype(derive(self.space, model.alpha_matrices()))
        self.history.append({"epoch": epoch, "step": trainer.global_step,
                             "alphas": model.alpha_matrices(), "weights": model.arch_weights(),
                             "genotype": genotype})
        self._write_history()
        trainer.emit(Message(f"[darts] epoch {epoch + 1} genotype: {genotype}"))
        if self.run is not None:
            self.run.scalars(op_shares(model), step=trainer.global_step)

    def _write_history(self) -> None:
        if self.run is None or not self.run.enabled:
            return
        path = self.run.root / "alphas.jsonl"
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in self.history))

    def state_dict(self) -> dict[str, Any]:
        opt = self.architect.optimizer
        return {"alpha_optimizer": opt.state_dict() if opt is not None else {},
                "val": self.val.state_dict(), "history": json.dumps(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.architect.optimizer is not None and state.get("alpha_optimizer"):
            self.architect.optimizer.load_state_dict(state["alpha_optimizer"])
        self.val.load_state_dict(state["val"])
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


# ------------------------------------------------------------------------------ the run

def search_darts(space_path: str | Path, config: Any, *, run: RunDir,
                 events: EventSink | None = None) -> SearchResult:
    """Run a DARTS search of the space in `space_path` as `config` says, into `run`."""
    runs.require_single_process("nasc search darts")
    space, source = runs.start_space(space_path, config, config.search.darts, run)
    return _run(space, config, run, events, source)


def resume_darts(run_dir: str | Path, *, events: EventSink | None = None,
                 device: str | None = None) -> SearchResult:
    """Continue the DARTS search in `run_dir` (its config, space and checkpoint)."""
    runs.require_single_process("nasc search darts")
    run, config, space, source = runs.reopen_run(run_dir, device, "nasc search darts")
    return _run(space, config, run, events, source)


@dataclass
class SearchSetup:
    """The pieces of a DARTS search, as `_run` wires them (exposed for tests and tools)."""

    space: Model
    model: DartsSupernet
    data: DataBundle  # with a `val` stream (the held-out half)
    w_optimizer: torch.optim.Optimizer
    architect: Architect  # holds the alpha optimizer
    device: torch.device


def build_search(space: Model, config: Any) -> SearchSetup:
    """Seed, load the data (train / held-out split), build the supernet and both optimizers:
    SGD on the weights only, the alpha optimizer on the alphas only."""
    from nasc.search.bilevel import Architect
    from nasc.search.darts import DartsSupernet
    from nasc.train.data import build_data
    from nasc.train.distributed import resolve_device
    from nasc.train.optim import build_optimizer
    from nasc.train.runner import seed_everything

    device = resolve_device(config.run.device)
    if config.run.threads is not None:
        torch.set_num_threads(config.run.threads)
    seed_everything(config.run.seed)
    darts = config.search.darts
    data = build_data(config.data, device=device, seed=config.run.seed,
                      val_fraction=config.search.val_fraction)
    space = _fit_to_data(space, data.num_classes, data.input_shape)
    model = DartsSupernet.build(space, device=device, channels_last=darts.channels_last)
    w_opt = build_optimizer(model.weights(), config.optimizer)
    a_opt = build_optimizer(model.alphas(), darts.alpha_optimizer)
    momentum = config.optimizer.momentum if config.optimizer.name == "sgd" else 0.0
    architect = Architect(model, a_opt, w_momentum=momentum,
                          w_weight_decay=config.optimizer.weight_decay, order=darts.order)
    return SearchSetup(space, model, data, w_opt, architect, device)


def _run(space: Model, config: Any, run: RunDir, events: EventSink | None,
         source: str) -> SearchResult:
    from nasc.train.checkpoint import Checkpoint

    s = build_search(space, config)
    model, data, darts = s.model, s.data, config.search.darts
    sink = fanout(run.event_sink if run.enabled else None, events)
    callback = ArchStep(s.architect, data.val, s.space, run)
    checkpoint = Checkpoint(run.checkpoint_path if run.enabled else None)
    n_weights = sum(p.numel() for p in model.weights())
    run.log.add("run", {"name": config.run.name, "seed": config.run.seed, "device": str(s.device),
                        "torch": torch.__version__, "python": platform.python_version(),
                        "threads": torch.get_num_threads()})
    run.log.add(("darts", "setup"), {
        "space": source, "order": darts.order, "weights": n_weights,
        "alphas": {t: list(model.arch[t].shape) for t in model.templates},
        "train": len(data.train.data), "val": len(data.val.data),
        "channels_last": model.channels_last})
    sink(Message(f"DARTS ({darts.order} order): {n_weights} weights, alphas "
                 f"{', '.join(f'{t} {tuple(model.arch[t].shape)}' for t in model.templates)}; "
                 f"data {data.dataset.name}: {len(data.train.data)} train / {len(data.val.data)} "
                 f"held-out images; device {s.device}, {torch.get_num_threads()} threads"))
    trainer = Trainer(model, trainer=config.trainer, optimizer=config.optimizer,
                      schedule=config.schedule, device=s.device, optimizer_instance=s.w_optimizer,
                      callbacks=[callback], checkpoint=checkpoint, key=LOOP_KEY, run=run,
                      events=sink, eval_batch_size=config.data.eval_batch_size)
    fit = trainer.fit(data.train, None)
    result = _finish(s.space, model, config, run, callback.history, source)
    result.resumed = fit.resumed
    sink(Message(f"final genotype: {result.genotype}"))
    run.close()
    return result


def _finish(space: Model, model: DartsSupernet, config: Any, run: RunDir, history: list[dict[str, Any]],
            source: str) -> SearchResult:
    """Derive the final network and write the outputs."""
    from nasc.ir.printer import print_model
    from nasc.ir.serde import to_yaml
    from nasc.search.darts import derive
    from nasc.search.genotype import to_genotype
    from nasc.atomic import atomic_save

    alphas = model.alpha_matrices()
    final = derive(space, alphas)
    genotype = to_genotype(final)
    darts = config.search.darts
    result = SearchResult(run=run, space=space, final=final, genotype=genotype, alphas=alphas,
                          history=history)
    if not run.enabled:
        return result
    root = run.root
    provenance = {
        "algorithm": "darts", "order": darts.order, "space": source,
        "epochs": config.trainer.epochs, "seed": config.run.seed, "dataset": config.data.dataset,
        "batch_size": config.data.batch_size, "run": str(root), "genotype": genotype,
        "alphas": alphas, "weights": model.arch_weights(),
    }
    header = runs.comment_header(
        f"Derived by `nasc search darts` ({darts.order} order, {config.trainer.epochs} epochs, "
        f"seed {config.run.seed}, data {config.data.dataset}) from {source}.\n"
        f"Architecture weights and settings: provenance.json in {root}.\n{genotype}")
    paths = {
        "final.nas": root / "final.nas", "final.yaml": root / "final.yaml",
        "genotype.txt": root / "genotype.txt", "provenance.json": root / "provenance.json",
        "alphas.jsonl": root / "alphas.jsonl", "supernet.pt": root / "supernet.pt",
    }
    atomic_write_text(paths["final.nas"], header + print_model(final))
    atomic_write_text(paths["final.yaml"], header + to_yaml(final))
    atomic_write_text(paths["genotype.txt"], genotype + "\n")
    atomic_write_text(paths["provenance.json"], json.dumps(provenance, indent=1) + "\n")
    atomic_save({"state_dict": model.state_dict(), "alphas": alphas}, paths["supernet.pt"])
    try:
        from nasc.export.viz import write_picture

        paths["cells.svg"] = write_picture(final, root / "cells.svg")
    except (ImportError, NascError, OSError) as exc:  # graphviz's `dot` may be missing
        run.info(f"no cell picture: {exc}")
    run.log.add(("darts", "result"), {"genotype": genotype, "final": str(paths["final.nas"])})
    result.paths = paths
    return result
