"""A training run driven like `nasc train` (new run dir or `--resume RUN_DIR`), used by the kill test.

    python tests/train/resume_script.py --out RUN [--sleep 0.05]
    python tests/train/resume_script.py --resume RUN [--sleep 0.05]

It prints one line per event (`STEP epoch step`, `CKPT global_step`, `EPOCH epoch`, `START
epoch step resumed`) so the test can pick the moment to SIGKILL it, sleeps after each step so
that the kill lands near that moment, and saves the final weights to RUN/final_state.pt.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_helpers import TinyNet  # noqa: E402

from nasc.train.config import load_config, validate_config  # noqa: E402
from nasc.train.events import CheckpointSaved, EpochEnded, Event, FitStarted, StepEnded  # noqa: E402
from nasc.train.rundir import RunDir  # noqa: E402
from nasc.train.runner import train_model  # noqa: E402
from nasc.train.trainer import Callback, Trainer  # noqa: E402

CONFIG = {
    "run.device": "cpu", "run.threads": 1, "run.seed": 5,
    "data.train_size": 160, "data.test_size": 40, "data.batch_size": 16,
    "data.augment.cutout": 8,
    "trainer.epochs": 3, "trainer.checkpoint_every_steps": 3, "trainer.log_every_steps": 1,
    "trainer.drop_path_prob": 0.2, "trainer.label_smoothing": 0.1, "trainer.tensorboard": False,
    "schedule.interval": "step", "schedule.warmup_epochs": 0.5,
}


class Pause(Callback):
    """Sleeps after each step so an external kill lands close to the printed step."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def post_step(self, trainer: Trainer, x: torch.Tensor, y: torch.Tensor, loss: torch.Tensor) -> None:
        time.sleep(self.seconds)


def show(event: Event) -> None:
    if isinstance(event, FitStarted):
        print(f"START {event.start_epoch} {event.start_step} {int(event.resumed)}", flush=True)
    elif isinstance(event, StepEnded):
        print(f"STEP {event.epoch} {event.step}", flush=True)
    elif isinstance(event, CheckpointSaved):
        print(f"CKPT {event.global_step}", flush=True)
    elif isinstance(event, EpochEnded):
        print(f"EPOCH {event.epoch}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out")
    parser.add_argument("--resume")
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.resume:
        run = RunDir.open(args.resume)
        cfg = validate_config(run.read_config())
    else:
        cfg = load_config(None, values=CONFIG)
        run = RunDir.create("kill", out=args.out)
        run.write_config(cfg)
    torch.manual_seed(123)  # the initial weights (replaced from the checkpoint when resuming)
    model = TinyNet()
    callbacks = (Pause(args.sleep),) if args.sleep else ()
    train_model(model, cfg, run=run, events=show, callbacks=callbacks)
    torch.save(model.state_dict(), run.root / "final_state.pt")
    run.close()
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
