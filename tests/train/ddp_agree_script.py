"""Run under `torchrun --nproc_per_node 2`: rank 1's step fails, rank 0's succeeds. `agree` must
raise on both (rank 1 its own error, rank 0 one naming rank 1), and a collective after it must not
be reached. Each rank writes what it raised to OUT/rank<r>.txt."""
from __future__ import annotations

import sys
from pathlib import Path

from nasc.errors import ConfigError, NascError
from nasc.train.distributed import setup


def main() -> None:
    out = Path(sys.argv[1])
    dist, _ = setup("cpu")

    def step() -> int:
        if dist.rank == 1:
            raise ConfigError("no such data file on this node", key="data.dataset")
        return 7

    try:
        dist.agree(step)
        dist.barrier()  # a rank that wrongly carried on would wait here for ever
        (out / f"rank{dist.rank}.txt").write_text("no error")
    except NascError as exc:
        (out / f"rank{dist.rank}.txt").write_text(f"{type(exc).__name__}: {exc}")
    assert dist.agree(lambda: dist.rank + 40) == dist.rank + 40  # success passes values through
    dist.shutdown()


if __name__ == "__main__":
    main()
