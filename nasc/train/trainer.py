"""The training loop: any `nn.Module` whose forward returns logits (or `(logits, aux_logits)` in
training mode), optional `drop_path_prob` attribute, optimizer + lr schedule, AMP, DDP, hooks,
nested-loop checkpoints.

Usage:
    from nasc.train.trainer import Trainer, Callback
    trainer = Trainer.from_config(model, cfg, device=device, checkpoint=ckpt, run=run, events=sink)
    result = trainer.fit(bundle.train, bundle.test)      # FitResult(history, metrics, global_step)
    trainer.evaluate(bundle.test)                        # {"loss", "top1", "top5"}

A search algorithm runs its own step through a `Callback` (DARTS: `pre_step(trainer, x, y)` takes
a validation batch and updates the architecture weights before each weight step):

    class ArchStep(Callback):
        name = "darts"                                   # keys this callback's checkpoint state
        def pre_step(self, trainer, x, y):
            x_val, y_val = self.val.next_batch()
            self.bilevel.step(x, y, x_val, y_val, trainer.optimizer, lr=trainer.lr)
        def state_dict(self): return {"alpha_opt": self.opt.state_dict(), "val": self.val.state_dict()}
        def load_state_dict(self, state): ...

The aux-head weight has one source (`resolve_aux_weight`): the model's own `aux_weight` attribute
(a lowered `NascNet` carries the weight written in the source, `aux = ... weight 0.4`), unless
`trainer.aux_weight` is set, which overrides it; a module without the attribute gets 0.4 (the DARTS
recipe). The choice and its reason go to the structured log (`<key>/setup/aux_weight`) and, the
first time aux logits are seen, to the human log.

What the loop does per epoch `e` of `E`: sets `model.drop_path_prob = drop_path_prob * e / E`
(DARTS), sets the lr (`nasc.train.schedule`), then per step: `pre_step` hooks; forward under
autocast; loss = CE(logits, label smoothing) + `aux_weight` * CE(aux_logits); backward (scaled for
fp16); clip the gradient norm; optimizer step; `post_step` hooks. After the epoch: evaluation on
the test set (every `eval_every` epochs and after the last), `on_epoch_end` hooks (which may add
metrics), a checkpoint, a `metrics.jsonl` row, TensorBoard scalars, the structured log.

Checkpoints (`nasc.train.checkpoint.Checkpoint`, under this trainer's `key`): after every epoch and
every `checkpoint_every_steps` steps, holding the model, optimizer, scaler, schedule, the RNG
states and batch-stream state of every rank, the running epoch sums, the metrics history and each
callback's `state_dict()`. `fit` on a checkpoint that has this key continues exactly where it was:
a run killed at any point and resumed ends with bit-identical weights (same device and threads).

Under DDP the model is wrapped in `DistributedDataParallel`; metrics are summed over ranks; only
rank 0 writes and emits events (all ranks take part in gathering the checkpoint state).
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nasc.errors import CheckpointError
from nasc.train.checkpoint import Checkpoint, rng_state, set_rng_state
from nasc.train.data import BatchStream, DeviceData, eval_batches
from nasc.train.distributed import DistContext
from nasc.train.events import (CheckpointSaved, EpochEnded, EpochStarted, EventSink, FitEnded,
                               FitStarted, Message, StepEnded)
from nasc.train.optim import build_optimizer
from nasc.train.precision import Precision
from nasc.train.rundir import RunDir
from nasc.train.schedule import LRSchedule


DEFAULT_AUX_WEIGHT = 0.4  # DARTS's, for modules that do not say


def resolve_aux_weight(model: nn.Module, configured: float | None) -> tuple[float, str, str]:
    """The aux-loss weight to train `model` with: `(weight, source, reason)`, `source` one of
    `config` (`trainer.aux_weight` was set), `model` (the module's `aux_weight`, from its IR) or
    `default`."""
    own = getattr(unwrap(model), "aux_weight", None)
    if isinstance(own, bool) or not isinstance(own, (int, float)) or not own >= 0:
        own = None
    if configured is not None:
        why = "trainer.aux_weight is set"
        if own is not None and float(own) != float(configured):
            why += f", overriding the model's {float(own):g}"
        return float(configured), "config", why
    if own is not None:
        return (float(own), "model",
                "the model's aux head weight (from its source); trainer.aux_weight is not set")
    return (DEFAULT_AUX_WEIGHT, "default",
            "the model declares no aux weight and trainer.aux_weight is not set")


class Callback:
    """Hooks into `Trainer.fit`; override what you need. State is checkpointed under `name`."""

    name: str | None = None

    @property
    def state_key(self) -> str:
        """The key of this callback's state in checkpoints (`name`, else the class name)."""
        return self.name or type(self).__name__

    def on_fit_start(self, trainer: Trainer) -> None:
        """Before the first epoch (also when resuming)."""

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Before the first step of `epoch` (also when resuming mid-epoch)."""

    def pre_step(self, trainer: Trainer, x: Tensor, y: Tensor) -> None:
        """Before the weight step on batch `(x, y)` (DARTS: the architecture step)."""

    def post_step(self, trainer: Trainer, x: Tensor, y: Tensor, loss: Tensor) -> None:
        """After the weight step; `loss` is detached."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """After evaluation; may add entries to `metrics` (plain numbers/strings)."""

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        """After the last epoch."""

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint (tensors and plain containers). Called on every DDP rank at
        each checkpoint (so it may gather per-rank state); rank 0's return value is saved."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a `state_dict()`."""


@dataclass
class FitResult:
    """What `Trainer.fit` returns."""

    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    global_step: int = 0
    resumed: bool = False


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a `DistributedDataParallel` wrapper (or `model` itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def topk_correct(logits: Tensor, y: Tensor, ks: Sequence[int]) -> list[Tensor]:
    """Number of samples whose label is among the top-k logits, for each k (k capped at classes)."""
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices
    hit = top == y[:, None]
    return [hit[:, :min(k, kmax)].any(dim=1).sum() for k in ks]


class Trainer:
    """Trains one model; see the module docstring.

    `params` are what the weight optimizer updates and what gradient clipping covers (default:
    all of the model's parameters; a search passes the weights without its architecture
    parameters), or pass a ready `optimizer_instance`. `key` names this loop in the checkpoint
    (nested loops: `"search/3/train"`). `run`, `events` and `dist` are optional.
    Attributes for callbacks: `model`, `net` (the DDP wrapper or the model), `optimizer`, `lr`,
    `epoch`, `step` (steps done in the epoch), `global_step`, `device`, `precision`, `dist`.
    """

    def __init__(self, model: nn.Module, *, trainer: Any, optimizer: Any, schedule: Any,
                 device: torch.device, params: Iterable[Any] | None = None,
                 optimizer_instance: torch.optim.Optimizer | None = None,
                 callbacks: Sequence[Callback] = (), checkpoint: Checkpoint | None = None,
                 key: str = "train", run: RunDir | None = None, events: EventSink | None = None,
                 dist: DistContext | None = None, eval_batch_size: int = 256) -> None:
        self.cfg = trainer
        self.optimizer_cfg = optimizer
        self.schedule_cfg = schedule
        self.device = device
        self.dist = dist or DistContext()
        self.model = model.to(device)
        if getattr(trainer, "checkpoint_cells", False):  # every lowered network inside (a supernet's too)
            for m in self.model.modules():
                if hasattr(m, "checkpoint_cells"):
                    m.checkpoint_cells = True
        self.net: nn.Module = self.model
        if self.dist.enabled:
            self.net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=trainer.ddp_find_unused)
        self.optimizer = optimizer_instance or build_optimizer(
            params if params is not None else self.model.parameters(), optimizer)
        self.precision = Precision.create(enabled=trainer.amp, dtype=trainer.amp_dtype, device=device)
        self.callbacks = list(callbacks)
        self.checkpoint = checkpoint
        self.key = key
        self.run = run if (run is not None and self.dist.is_main) else None
        self._events = events if self.dist.is_main else None
        self.eval_batch_size = eval_batch_size
        self.schedule: LRSchedule | None = None
        self.epoch = 0
        self.step = 0
        self.epochs = int(trainer.epochs)
        self.global_step = 0
        self.lr = float(self.optimizer.param_groups[0]["lr"])
        self._params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self.aux_weight, self.aux_weight_source, self.aux_weight_reason = resolve_aux_weight(
            self.model, getattr(trainer, "aux_weight", None))
        self._aux_announced = False
        # set by `request_stop` (a search's early-stopping hook): no further epoch starts
        self.stop_reason: str | None = None

    @classmethod
    def from_config(cls, model: nn.Module, config: Any, **kwargs: Any) -> Trainer:
        """A trainer from a root config's `trainer`, `optimizer`, `schedule` and `data` sections."""
        kwargs.setdefault("eval_batch_size", config.data.eval_batch_size)
        return cls(model, trainer=config.trainer, optimizer=config.optimizer,
                   schedule=config.schedule, **kwargs)

    # ------------------------------------------------------------------ pieces callbacks reuse

    def request_stop(self, reason: str) -> None:
        """End `fit` cleanly after the current epoch (its checkpoint and metrics are written,
        `on_fit_end` runs). A callback that restores its state on resume calls this again from
        `on_fit_start`, so a resumed run stops where the original did."""
        self.stop_reason = reason

    def emit(self, event: Any) -> None:
        """Send a progress event (main process only)."""
        if self._events is not None:
            self._events(event)

    def criterion(self, output: Tensor | tuple[Tensor, ...], y: Tensor) -> Tensor:
        """CE with label smoothing on the logits, plus `self.aux_weight` x CE on aux logits if
        given (the weight is resolved once, see `resolve_aux_weight`)."""
        smoothing = self.cfg.label_smoothing
        if isinstance(output, (tuple, list)):
            logits, aux = output[0], output[1] if len(output) > 1 else None
        else:
            logits, aux = output, None
        loss = F.cross_entropy(logits, y, label_smoothing=smoothing)
        if aux is not None:
            if not self._aux_announced:  # once per fit, where the weight is actually used
                self._aux_announced = True
                self.emit(Message(f"[{self.key}] aux loss weight {self.aux_weight:g} "
                                  f"({self.aux_weight_source}: {self.aux_weight_reason})"))
            if self.aux_weight > 0:
                loss = loss + self.aux_weight * F.cross_entropy(aux, y, label_smoothing=smoothing)
        return loss

    def set_drop_path(self, epoch: int) -> None:
        """`model.drop_path_prob = drop_path_prob * epoch / epochs` if the model has the attribute."""
        if hasattr(self.model, "drop_path_prob"):
            self.model.drop_path_prob = self.cfg.drop_path_prob * epoch / max(self.epochs, 1)

    def train_step(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """One weight update on `(x, y)`; returns the detached loss and the logits."""
        self.optimizer.zero_grad(set_to_none=True)
        with self.precision.autocast():
            output = self.net(x)
            loss = self.criterion(output, y)
        logits = output[0] if isinstance(output, (tuple, list)) else output
        scaler = self.precision.scaler
        scaler.scale(loss).backward()
        if self.cfg.grad_clip is not None:
            scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self._params, self.cfg.grad_clip)
        scaler.step(self.optimizer)
        scaler.update()
        return loss.detach(), logits.detach()

    @torch.no_grad()
    def evaluate(self, data: DeviceData, batch_size: int | None = None) -> dict[str, float]:
        """Loss (no smoothing), top-1 and top-5 accuracy on `data` (summed over DDP ranks).

        Leaves the model in eval mode; `fit` switches back to train mode each epoch.
        """
        self.model.eval()
        sums = torch.zeros(4, dtype=torch.float64, device=self.device)
        for x, y in eval_batches(data, batch_size or self.eval_batch_size, rank=self.dist.rank,
                                 world_size=self.dist.world_size):
            with self.precision.autocast():
                out = self.model(x)
            logits = (out[0] if isinstance(out, (tuple, list)) else out).float()
            c1, c5 = topk_correct(logits, y, (1, 5))
            sums += torch.stack([F.cross_entropy(logits, y, reduction="sum").double(),
                                 c1.double(), c5.double(), torch.tensor(float(y.numel()),
                                                                       dtype=torch.float64,
                                                                       device=self.device)])
        self.dist.all_reduce_sum(sums)
        n = max(float(sums[3]), 1.0)
        return {"loss": float(sums[0]) / n, "top1": float(sums[1]) / n, "top5": float(sums[2]) / n}

    # ------------------------------------------------------------------ checkpointing

    def _state(self, epoch: int, step: int, train: BatchStream, accum: Tensor,
               history: list[dict[str, Any]]) -> dict[str, Any] | None:
        """This loop's checkpoint state (None on ranks other than 0, which only contribute)."""
        # each rank's own: generators, stream position and its shard's running epoch sums
        ranks = self.dist.all_gather_object({"rng": rng_state(), "stream": train.state_dict(),
                                             "accum": accum.cpu()})
        # asked on every rank: a callback may gather per-rank state (a search's held-out stream)
        callbacks = {cb.state_key: cb.state_dict() for cb in self.callbacks}
        if not self.dist.is_main:
            return None
        assert self.schedule is not None
        return {
            "epoch": epoch, "step": step, "global_step": self.global_step, "epochs": self.epochs,
            "steps_per_epoch": len(train),
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(), "scaler": self.precision.scaler.state_dict(),
            "accum": accum, "history": history, "ranks": ranks,
            "callbacks": callbacks,
        }

    def _save(self, epoch: int, step: int, train: BatchStream, accum: Tensor,
              history: list[dict[str, Any]]) -> None:
        if self.checkpoint is None:
            return
        state = self._state(epoch, step, train, accum, history)
        if state is not None:
            self.checkpoint.commit(self.key, state)
            self.emit(CheckpointSaved(self.key, str(self.checkpoint.path), epoch, step,
                                      self.global_step))

    def _restore(self, state: dict[str, Any], train: BatchStream) -> None:
        if int(state.get("epochs", self.epochs)) != self.epochs:
            raise CheckpointError(f"checkpoint `{self.key}` was made for {state['epochs']} epochs, "
                                  f"this run has {self.epochs}",
                                  hint="resume with the run's own config")
        if int(state.get("steps_per_epoch", len(train))) != len(train):
            raise CheckpointError(f"checkpoint `{self.key}` was made with {state['steps_per_epoch']} steps "
                                  f"per epoch, this run has {len(train)}",
                                  hint="resume with the run's own data and batch size")
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as exc:
            raise CheckpointError(f"checkpoint `{self.key}` does not fit this model: {exc}") from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.precision.scaler.load_state_dict(state["scaler"])
        ranks = state["ranks"]
        mine = ranks[self.dist.rank] if len(ranks) == self.dist.world_size else ranks[0]
        if len(ranks) != self.dist.world_size:
            self.emit(Message(f"checkpoint was written by {len(ranks)} processes, resuming with "
                              f"{self.dist.world_size}: the run will not be bit-identical",
                              level="warning"))
        set_rng_state(mine["rng"])
        train.load_state_dict(mine["stream"])
        saved_cbs = state.get("callbacks", {})
        for cb in self.callbacks:
            if cb.state_key in saved_cbs:
                cb.load_state_dict(saved_cbs[cb.state_key])
        self.global_step = int(state["global_step"])

    def _own_accum(self, state: dict[str, Any]) -> Tensor:
        """This rank's running epoch sums (older checkpoints kept rank 0's only)."""
        ranks = state["ranks"]
        if len(ranks) == self.dist.world_size and "accum" in ranks[self.dist.rank]:
            return ranks[self.dist.rank]["accum"]
        return state["accum"]

    # ------------------------------------------------------------------ the loop

    def fit(self, train: BatchStream, test: DeviceData | None = None) -> FitResult:
        """Train for `trainer.epochs` epochs (continuing from this loop's checkpoint if any)."""
        steps = len(train)
        self.schedule = LRSchedule(self.schedule_cfg, epochs=self.epochs, steps_per_epoch=steps,
                                   base_lr=self.optimizer_cfg.lr)
        history: list[dict[str, Any]] = []
        # running sums of the current epoch: loss * n, top-1 hits, samples
        accum = torch.zeros(3, dtype=torch.float64, device=self.device)
        start_epoch, start_step, resumed = 0, 0, False
        saved = self.checkpoint.get(self.key) if self.checkpoint is not None else None
        if saved is not None:
            self._restore(saved, train)
            start_epoch, start_step = int(saved["epoch"]), int(saved["step"])
            history = [dict(row) for row in saved["history"]]
            accum = self._own_accum(saved).to(self.device)
            resumed = True
        if self.run is not None:
            if resumed:  # drop rows the killed run wrote after its last checkpoint
                others = [r for r in self.run.read_metrics() if r.get("loop", self.key) != self.key]
                self.run.rewrite_metrics(others + history)
                self.run.log.append((self.key, "resumed_at_step"), self.global_step)
            self.run.log.add((self.key, "setup"), {
                "epochs": self.epochs, "steps_per_epoch": steps, "device": str(self.device),
                "precision": self.precision.name, "world_size": self.dist.world_size,
                "params": sum(p.numel() for p in self._params),
                "aux_weight": {"value": self.aux_weight, "source": self.aux_weight_source,
                               "reason": self.aux_weight_reason}})
            if self.cfg.tensorboard:
                self.run.tensorboard(purge_step=self.global_step if resumed else None)
        self._aux_announced = False
        for cb in self.callbacks:
            cb.on_fit_start(self)
        self.emit(FitStarted(self.key, self.epochs, steps, start_epoch, start_step, resumed))

        for epoch in range(start_epoch, self.epochs):
            if self.stop_reason is not None:  # a callback stopped the run (see request_stop)
                break
            first = start_step if epoch == start_epoch else 0
            if first == 0:
                accum = torch.zeros(3, dtype=torch.float64, device=self.device)
            self.epoch, self.step = epoch, first
            train.seek(epoch, first)
            self.set_drop_path(epoch)
            self.lr = self.schedule.apply(self.optimizer, epoch, first)
            for cb in self.callbacks:
                cb.on_epoch_start(self, epoch)
            self.emit(EpochStarted(self.key, epoch, self.epochs, steps, self.lr))
            started = time.perf_counter()
            for step in range(first, steps):
                self.model.train()
                x, y = train.next_batch()
                if self.schedule_cfg.interval == "step":
                    self.lr = self.schedule.apply(self.optimizer, epoch, step)
                for cb in self.callbacks:
                    cb.pre_step(self, x, y)
                loss, logits = self.train_step(x, y)
                hits = (logits.argmax(dim=1) == y).sum()
                accum += torch.stack([loss.double() * y.numel(), hits.double(),
                                      torch.tensor(float(y.numel()), dtype=torch.float64,
                                                   device=self.device)])
                self.global_step += 1
                self.step = step + 1
                for cb in self.callbacks:
                    cb.post_step(self, x, y, loss)
                if self._events is not None and (self.step % self.cfg.log_every_steps == 0
                                                 or self.step == steps):
                    self.emit(StepEnded(self.key, epoch, self.step, steps, self.global_step,
                                        float(loss), self.lr))
                every = self.cfg.checkpoint_every_steps
                if every and self.global_step % every == 0 and self.step < steps:
                    self._save(epoch, self.step, train, accum, history)
            elapsed = time.perf_counter() - started

            if self.dist.enabled:
                # DDP broadcasts buffers at the start of each forward, so after the last step
                # each rank holds BN statistics of its own batch: take rank 0's, as DDP would
                for buf in self.model.buffers():
                    self.dist.broadcast_(buf)
            total = self.dist.all_reduce_sum(accum.clone())
            n = max(float(total[2]), 1.0)
            metrics: dict[str, Any] = {"loop": self.key, "epoch": epoch, "lr": self.lr,
                                       "train_loss": float(total[0]) / n,
                                       "train_top1": float(total[1]) / n}
            if test is not None and ((epoch + 1) % self.cfg.eval_every == 0
                                     or epoch + 1 == self.epochs):
                metrics.update({f"test_{k}": v for k, v in self.evaluate(test).items()})
            for cb in self.callbacks:
                cb.on_epoch_end(self, epoch, metrics)
            metrics["time"] = round(elapsed, 3)
            history.append(metrics)
            self._save(epoch + 1, 0, train, torch.zeros_like(accum), history)
            self._record(epoch, metrics)
            self.emit(EpochEnded(self.key, epoch, self.epochs, dict(metrics)))

        result = FitResult(history=history, metrics=dict(history[-1]) if history else {},
                           global_step=self.global_step, resumed=resumed)
        self.emit(FitEnded(self.key, result.metrics))
        for cb in self.callbacks:
            cb.on_fit_end(self, result)
        return result

    def _record(self, epoch: int, metrics: dict[str, Any]) -> None:
        """metrics.jsonl, TensorBoard and the structured log (main process only)."""
        if self.run is None:
            return
        self.run.append_metrics(metrics)
        self.run.log.add((self.key, "epochs", epoch), metrics)
        numbers = {f"{self.key}/{k}": float(v) for k, v in metrics.items()
                   if isinstance(v, (int, float)) and k not in ("epoch",)}
        self.run.scalars(numbers, step=self.global_step)
