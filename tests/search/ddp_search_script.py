"""`nasc search ...` with a debug dump, for the data-parallel search tests.

    python -m torch.distributed.run --standalone --nproc_per_node 2 ddp_search_script.py DUMP search darts ...
    python ddp_search_script.py DUMP search darts ...                    # the one-process reference

Runs the real command line (`nasc.cli.app`) in this process after adding one callback to every
`Trainer`: after each step (architecture and weight steps both done) it records this rank's
parameters (weights and architecture parameters, flattened in `state_dict` order); at the end of
the fit it writes `DUMP/rank<r>.pt` with those vectors and the final `state_dict` (buffers too).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from nasc.train import trainer as trainer_module
from nasc.train.trainer import Callback, FitResult, Trainer


class Dump(Callback):
    """Records the parameters after every step and saves them with the final state."""

    name = "test-dump"

    def __init__(self, out: Path) -> None:
        self.out = out
        self.steps: list[Tensor] = []

    def post_step(self, trainer: Trainer, x: Tensor, y: Tensor, loss: Tensor) -> None:
        params = [p.detach().reshape(-1) for p in trainer.model.parameters()]
        self.steps.append(torch.cat(params).clone())

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        state = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        torch.save({"steps": self.steps, "state": state, "global_step": trainer.global_step},
                   self.out / f"rank{trainer.dist.rank}.pt")


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    original = Trainer.__init__

    def with_dump(self: Trainer, model: Any, **kwargs: Any) -> None:
        kwargs["callbacks"] = [*kwargs.get("callbacks", ()), Dump(out)]
        original(self, model, **kwargs)

    trainer_module.Trainer.__init__ = with_dump  # type: ignore[method-assign]
    torch.set_num_threads(1)
    from nasc.cli.app import main as cli

    sys.argv = ["nasc", *sys.argv[2:]]
    cli()


if __name__ == "__main__":
    main()
