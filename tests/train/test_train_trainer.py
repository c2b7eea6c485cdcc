"""The trainer: loss terms, hooks, drop path, evaluation numbers, clipping, AMP, checkpoint resume."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nasc.errors import CheckpointError, ConfigError
from nasc.train.checkpoint import Checkpoint
from nasc.train.data import DeviceData, build_data
from nasc.train.events import CheckpointSaved, Event, FitStarted
from nasc.train.runlog import read_log
from nasc.train.rundir import RunDir
from nasc.train.runner import train_model
from nasc.train.trainer import Callback, Trainer

from train_helpers import TinyNet, tiny_config

CPU = torch.device("cpu")


def make(cfg: Any, seed: int = 0, **kw: Any) -> tuple[Trainer, Any]:
    torch.manual_seed(seed)
    model = TinyNet()
    bundle = build_data(cfg.data, device=CPU, seed=cfg.run.seed)
    return Trainer.from_config(model, cfg, device=CPU, **kw), bundle


def test_criterion_adds_weighted_aux_loss_with_smoothing() -> None:
    cfg = tiny_config(**{"trainer.label_smoothing": 0.1, "trainer.aux_weight": 0.4})
    trainer, _ = make(cfg)
    logits, aux, y = torch.randn(6, 10), torch.randn(6, 10), torch.arange(6)
    want = F.cross_entropy(logits, y, label_smoothing=0.1) + 0.4 * F.cross_entropy(aux, y, label_smoothing=0.1)
    assert torch.allclose(trainer.criterion((logits, aux), y), want)
    assert torch.allclose(trainer.criterion(logits, y), F.cross_entropy(logits, y, label_smoothing=0.1))


class Recorder(Callback):
    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.drop: list[float] = []
        self.batches: list[int] = []
        self.count = 0

    def on_fit_start(self, trainer: Trainer) -> None:
        self.calls.append("fit_start")

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self.calls.append(f"epoch_start{epoch}")
        self.drop.append(trainer.model.drop_path_prob)

    def pre_step(self, trainer: Trainer, x: Tensor, y: Tensor) -> None:
        self.calls.append("pre")
        self.batches.append(x.shape[0])
        assert trainer.model.training and x.dtype == torch.float32

    def post_step(self, trainer: Trainer, x: Tensor, y: Tensor, loss: Tensor) -> None:
        self.calls.append("post")
        self.count += 1

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        self.calls.append(f"epoch_end{epoch}")
        metrics["extra"] = self.count

    def on_fit_end(self, trainer: Trainer, result: Any) -> None:
        self.calls.append("fit_end")

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.count = state["count"]


def test_hooks_order_drop_path_schedule_and_extra_metrics() -> None:
    cfg = tiny_config(**{"data.train_size": 32, "trainer.epochs": 3, "trainer.drop_path_prob": 0.3})
    rec = Recorder()
    trainer, bundle = make(cfg, callbacks=[rec])
    result = trainer.fit(bundle.train, bundle.test)
    assert rec.calls == ["fit_start"] + sum(
        ([f"epoch_start{e}", "pre", "post", "pre", "post", f"epoch_end{e}"] for e in range(3)), []) + ["fit_end"]
    assert rec.drop == pytest.approx([0.0, 0.1, 0.2])
    assert rec.batches == [16] * 6
    assert [row["extra"] for row in result.history] == [2, 4, 6]
    assert result.global_step == 6 and set(result.history[0]) >= {
        "epoch", "lr", "train_loss", "train_top1", "test_loss", "test_top1", "test_top5", "time"}


class Oracle(nn.Module):
    """Reads the label encoded in the image: top-1 right for labels < 5, top-5 always right."""

    def forward(self, x: Tensor) -> Tensor:
        label = (x[:, 0, 0, 0] * 255 / 20).round().long()
        logits = torch.zeros(x.shape[0], 10)
        wrong = torch.where(label < 5, label, (label + 1) % 10)
        logits[torch.arange(x.shape[0]), label] = 5.0
        logits[torch.arange(x.shape[0]), wrong] += 10.0
        return logits


def test_evaluate_top1_top5_and_loss_exactly() -> None:
    y = torch.arange(40) % 10
    images = (y * 20).to(torch.uint8)[:, None, None, None].expand(40, 3, 4, 4).contiguous()
    data = DeviceData.create(images, y, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 10, CPU)
    cfg = tiny_config()
    model = Oracle()
    model.dummy = nn.Parameter(torch.zeros(1))  # the optimizer needs something
    trainer = Trainer.from_config(model, cfg, device=CPU, eval_batch_size=7)
    got = trainer.evaluate(data)
    want_loss = F.cross_entropy(model(data.normalise(images)), y).item()
    assert got["top1"] == 0.5 and got["top5"] == 1.0
    assert got["loss"] == pytest.approx(want_loss, rel=1e-6)


def test_grad_clip_bounds_the_update() -> None:
    cfg = tiny_config(**{"trainer.grad_clip": 1e-3, "optimizer.lr": 1.0, "optimizer.momentum": 0.0,
                         "optimizer.weight_decay": 0.0})
    trainer, bundle = make(cfg)
    before = torch.cat([p.detach().flatten().clone() for p in trainer.model.parameters()])
    x, y = bundle.train.next_batch()
    trainer.train_step(x, y)
    after = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    assert (after - before).norm().item() == pytest.approx(1e-3, rel=1e-4)


def test_bf16_autocast_on_cpu_and_fp16_refused() -> None:
    cfg = tiny_config(**{"trainer.amp": True, "trainer.epochs": 1, "data.train_size": 32})
    trainer, bundle = make(cfg)
    assert trainer.precision.name == "bf16" and not trainer.precision.scaler.is_enabled()
    result = trainer.fit(bundle.train, bundle.test)
    assert torch.isfinite(torch.tensor(result.metrics["train_loss"]))
    with pytest.raises(ConfigError, match="fp16 autocast needs a CUDA device"):
        make(tiny_config(**{"trainer.amp": True, "trainer.amp_dtype": "fp16"}))


class Crash(Callback):
    """Simulates a killed process: raises before the weight step at a given global step."""

    def __init__(self, at: int) -> None:
        self.at = at

    def pre_step(self, trainer: Trainer, x: Tensor, y: Tensor) -> None:
        if trainer.global_step == self.at:
            raise KeyboardInterrupt


@pytest.mark.parametrize("crash_at", [4, 10, 13])  # mid-epoch, at an epoch boundary, mid-epoch
def test_resume_after_a_crash_is_bit_identical(tmp_path: Path, crash_at: int) -> None:
    values = {"trainer.epochs": 3, "data.train_size": 80, "trainer.checkpoint_every_steps": 3,
              "trainer.drop_path_prob": 0.2, "data.augment.cutout": 8, "trainer.label_smoothing": 0.1,
              "optimizer.nesterov": True}
    cfg = tiny_config(**values)
    ref, bundle = make(cfg, checkpoint=Checkpoint(tmp_path / "ref.pt"))
    want = ref.fit(bundle.train, bundle.test)

    first, bundle = make(cfg, checkpoint=Checkpoint(tmp_path / "b.pt"), callbacks=[Crash(crash_at)])
    with pytest.raises(KeyboardInterrupt):
        first.fit(bundle.train, bundle.test)
    events: list[Event] = []
    # a different init seed: everything must come from the checkpoint
    second, bundle = make(cfg, seed=99, checkpoint=Checkpoint(tmp_path / "b.pt"), events=events.append)
    got = second.fit(bundle.train, bundle.test)
    started = events[0]
    assert isinstance(started, FitStarted) and started.resumed
    # the last checkpoint: every 3 steps and at the end of every epoch (5 steps)
    last = max(k for k in range(crash_at + 1) if k % 3 == 0 or k % 5 == 0)
    assert started.start_epoch * 5 + started.start_step == last
    for (k, a), (_, b) in zip(ref.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(a, b), k
    strip = [{k: v for k, v in row.items() if k != "time"} for row in want.history]
    assert [{k: v for k, v in row.items() if k != "time"} for row in got.history] == strip


def test_finished_run_resumes_to_its_result_and_epoch_mismatch_is_refused(tmp_path: Path) -> None:
    cfg = tiny_config(**{"data.train_size": 32})
    t1, bundle = make(cfg, checkpoint=Checkpoint(tmp_path / "c.pt"))
    r1 = t1.fit(bundle.train, bundle.test)
    events: list[Event] = []
    t2, bundle = make(cfg, checkpoint=Checkpoint(tmp_path / "c.pt"), events=events.append)
    r2 = t2.fit(bundle.train, bundle.test)
    assert r2.history == r1.history and r2.global_step == 4
    assert not any(isinstance(e, CheckpointSaved) for e in events)
    t3, bundle = make(tiny_config(**{"data.train_size": 32, "trainer.epochs": 5}),
                      checkpoint=Checkpoint(tmp_path / "c.pt"))
    with pytest.raises(CheckpointError, match="made for 2 epochs, this run has 5"):
        t3.fit(bundle.train, bundle.test)
    t4, bundle = make(tiny_config(**{"data.train_size": 64}), checkpoint=Checkpoint(tmp_path / "c.pt"))
    with pytest.raises(CheckpointError, match="made with 2 steps per epoch, this run has 4"):
        t4.fit(bundle.train, bundle.test)


def test_runner_writes_the_run_directory(tmp_path: Path) -> None:
    cfg = tiny_config(**{"data.train_size": 48, "trainer.tensorboard": True, "run.name": "unit"})
    run = RunDir.create(cfg.run.name, base=tmp_path)
    run.write_config(cfg)
    torch.manual_seed(0)
    outcome = train_model(TinyNet(), cfg, run=run)
    run.close()
    rows = run.read_metrics()
    assert [r["epoch"] for r in rows] == [0, 1] and rows == outcome.fit.history
    assert outcome.test == {k[5:]: v for k, v in rows[-1].items() if k.startswith("test_")}
    tree = read_log(run.root / "log.jsonl")
    assert tree["data"]["train"] == 48 and tree["train"]["epochs"][1]["epoch"] == 1
    assert tree["result"]["global_step"] == 6
    assert list(run.tb_dir.glob("events.out.tfevents.*"))
    assert "[train] epoch 2/2 done:" in (run.root / "log.txt").read_text()
    assert run.root.name.startswith("unit-") and (run.root / "checkpoints" / "last.pt").is_file()
    # a resumed run rewrites metrics.jsonl from the checkpoint, dropping rows written after it
    run.append_metrics({"loop": "train", "epoch": 9})
    again = RunDir.open(run.root)
    torch.manual_seed(0)
    train_model(TinyNet(), cfg, run=again)
    assert again.read_metrics() == rows
    assert read_log(run.root / "log.jsonl")["train"]["resumed_at_step"] == [6]
