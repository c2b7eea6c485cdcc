"""Run under `torchrun --nproc_per_node 2`: trains TinyNet with DDP (gloo) through `train_model`,
then every rank saves its final weights to OUT/rank<r>.pt and its test metrics to OUT/test<r>.json."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_helpers import TinyNet  # noqa: E402

from nasc.train.config import load_config  # noqa: E402
from nasc.train.distributed import setup  # noqa: E402
from nasc.train.rundir import RunDir  # noqa: E402
from nasc.train.runner import train_model  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    cfg = load_config(None, values={
        "run.device": "cpu", "data.train_size": 96, "data.test_size": 30, "data.batch_size": 16,
        "trainer.epochs": 2, "trainer.tensorboard": False, "trainer.checkpoint_every_steps": 2})
    dist, _ = setup("cpu")
    run = RunDir.create("ddp", out=out / "run", enabled=dist.is_main)
    run.write_config(cfg)
    torch.manual_seed(100 + dist.rank)  # different initial weights per rank: DDP must sync them
    model = TinyNet()
    outcome = train_model(model, cfg, run=run)
    torch.save(model.state_dict(), out / f"rank{dist.rank}.pt")
    (out / f"test{dist.rank}.json").write_text(json.dumps(outcome.test))
    run.close()
    dist.shutdown()


if __name__ == "__main__":
    main()
