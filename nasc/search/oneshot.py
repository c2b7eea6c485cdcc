"""What the differentiable searches other than DARTS share (PC-DARTS, GDAS): the common part of
their config section and the wiring of a search (data, supernet, the two optimizers).

    setup = build_oneshot(space, config, config.search.gdas, lambda sp, dev, cl: GdasSupernet.build(...))
    setup.model, setup.data.val, setup.w_optimizer, setup.architect
    callback = OneShotStep("gdas", setup.architect, setup.data.val, setup.space, run)

The pieces follow DARTS (`nasc.search.darts_search`): SGD on the network weights only, the
alpha optimizer (Adam) on the architecture parameters only (`model.alphas()`, which for PC-DARTS
includes the betas), the held-out half of the training set as the architecture's data, and the
DARTS `Architect` for the architecture gradient. `OneShotStep` is DARTS' per-step and per-epoch
callback under the method's name, with the method's own derivation.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from pydantic import Field

from nasc.ir.model import Model
from nasc.search.darts_search import ArchStep, DartsSetup, op_shares
from nasc.search.darts_supernet import DartsSupernet
from nasc.train.config import OptimizerSection, Section
from nasc.train.events import Message
from nasc.train.rundir import RunDir
from nasc.train.trainer import Trainer

if TYPE_CHECKING:
    from nasc.search.bilevel import Architect
    from nasc.train.data import BatchStream
    from nasc.train.distributed import DistContext

# (space fitted to the data, device, channels_last) -> the supernet module
ModelBuilder = Callable[[Model, torch.device, "bool | None"], DartsSupernet]


class OneShotSection(Section):
    """The keys every differentiable search has: supernet size and the alpha optimizer."""

    channels: int | None = Field(None, ge=2, description="initial cell width C of the supernet "
                                                         "(None: the space's own)")
    cells: int | None = Field(None, ge=1, description="number of cells (None: the space's own)")
    params: dict[str, bool | int | float | str] = Field(
        default_factory=dict, description="overrides of the space's params (like `nasc check --set`)")
    alpha_optimizer: OptimizerSection = Field(
        default_factory=lambda: OptimizerSection(name="adam", lr=3e-4, betas=(0.5, 0.999),
                                                 weight_decay=1e-3))
    channels_last: bool | None = Field(None, description="run the supernet in channels-last "
                                                         "memory format (None: on the CPU)")


def build_oneshot(space: Model, config: Any, section: OneShotSection, make_model: ModelBuilder,
                  *, order: str = "first", dist: DistContext | None = None) -> DartsSetup:
    """Seed, load the data (train / held-out split), build the supernet with `make_model` and
    both optimizers (weights: `config.optimizer`; alphas: `section.alpha_optimizer`). Under
    `dist` this rank gets its shard of each batch, as in DARTS' `build_search`."""
    from nasc.search.bilevel import Architect
    from nasc.search.space import fit_to_data
    from nasc.train.data import build_data
    from nasc.train.distributed import DistContext, resolve_device
    from nasc.train.optim import build_optimizer
    from nasc.train.runner import seed_everything

    dist = dist or DistContext()
    device = resolve_device(config.run.device, dist.local_rank)
    if config.run.threads is not None:
        torch.set_num_threads(config.run.threads)
    seed_everything(config.run.seed)  # not per rank: same init and random draws (GDAS) everywhere
    data = dist.agree(lambda: build_data(config.data, device=device, seed=config.run.seed,
                                         val_fraction=config.search.val_fraction,
                                         rank=dist.rank, world_size=dist.world_size))
    space = fit_to_data(space, data.num_classes, data.input_shape)
    model = make_model(space, device, section.channels_last)
    w_opt = build_optimizer(model.network_weights(), config.optimizer)
    a_opt = build_optimizer(model.alphas(), section.alpha_optimizer)
    momentum = config.optimizer.momentum if config.optimizer.name == "sgd" else 0.0
    architect = Architect(model, a_opt, w_momentum=momentum,
                          w_weight_decay=config.optimizer.weight_decay,
                          order=order, dist=dist)  # type: ignore[arg-type]
    return DartsSetup(space, model, data, w_opt, architect, device)


def setup_message(name: str, detail: str, s: DartsSetup) -> str:
    """The opening line of a search: method, weights, architecture parameters, data, device."""
    model, data = s.model, s.data
    n_weights = sum(p.numel() for p in model.network_weights())
    n_arch = sum(p.numel() for p in model.alphas())
    return (f"{name} ({detail}): {n_weights} weights, {n_arch} architecture parameters; data "
            f"{data.dataset.name}: {len(data.train.data)} train / {len(data.val.data)} held-out "
            f"images; device {s.device}, {torch.get_num_threads()} threads")


class OneShotStep(ArchStep):
    """DARTS' architecture callback (`nasc.search.darts_search.ArchStep`) under another name,
    with the method's own derivation and extra fields in each `alphas.jsonl` row."""

    def __init__(self, name: str, architect: Architect, val_stream: BatchStream, space: Model,
                 run: RunDir | None) -> None:
        super().__init__(architect, val_stream, space, run)
        self.name = name  # the log prefix and the key of this callback's checkpoint state

    def derived(self) -> Model:
        """The network derived from the current architecture parameters (default: DARTS')."""
        from nasc.search.darts import derive

        return derive(self.space, self.architect.model.alpha_matrices())

    def row_extra(self) -> dict[str, Any]:
        """Fields added to this epoch's `alphas.jsonl` row."""
        return {}

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        from nasc.search.genotype import to_genotype

        model = self.architect.model
        metrics.update({f"val_{k}": v for k, v in trainer.evaluate(self.val.data).items()})
        genotype = to_genotype(self.derived())
        self.history.append({"epoch": epoch, "step": trainer.global_step,
                             "alphas": model.alpha_matrices(), "mixing": model.mixing_weights(),
                             **self.row_extra(), "genotype": genotype})
        self._write_history()
        trainer.emit(Message(f"[{self.name}] epoch {epoch + 1} genotype: {genotype}"))
        if self.run is not None:
            shares = {f"{self.name}/{k.partition('/')[2]}": v for k, v in op_shares(model).items()}
            self.run.scalars(shares, step=trainer.global_step)
