"""Benchmark: how hard the built-in dataset is, for different models under one short budget.

    python benchmarks/builtin_difficulty.py                 # 2 threads, 300 steps per model
    python benchmarks/builtin_difficulty.py --steps 600 --cells 8 --channels 16

The built-in data must be learnable quickly by convnets (a toy search learns it in minutes on a
CPU), not by position-dependent models, and hard enough that architectures from the same space
differ. Each model below is trained on the same 5000 generated images with the same SGD recipe
(batch 64, momentum 0.9, cosine lr, no augmentation) and tested on 1000 others; printed:
test top-1 per model and the wall time.

- `mlp`: a 3-layer MLP (position-dependent; the objects move, so it should stay low);
- `cnn`: six 3x3 conv-BN-ReLU layers (16-32-64 channels);
- `darts_v2`: the published DARTS_V2 cell (examples/darts_v2_cifar.nas) at `--cells`/`--channels`;
- `all_sep_conv`, `all_max_pool`, `all_skip`: cells derived from examples/darts_space.nas with
  every edge forced to one op (the DARTS rule then picks 2 edges per node), same size.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing


def _forced(space_path: Path, op: str, cells: int, channels: int):  # noqa: ANN202
    """A network of the DARTS space where every edge picks `op` (alphas one-hot on it)."""
    from nasc.frontend import load_model
    from nasc.ir.model import Choice
    from nasc.ir.queries import choice_shapes
    from nasc.search.darts import derive

    space = load_model(space_path)
    choice = next(e.op for c in space.cells for n in c.nodes for e in n.edges
                  if isinstance(e.op, Choice))
    col = [c.op for c in choice.candidates].index(op)
    alphas = {t: [[10.0 if j == col else 0.0 for j in range(shape[1])] for _ in range(shape[0])]
              for t, shape in choice_shapes(space).items()}
    return derive(space, alphas)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--cells", type=int, default=5)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--models", default="mlp,cnn,darts_v2,all_sep_conv,all_max_pool,all_skip")
    args = parser.parse_args()

    import torch
    import torch.nn.functional as F
    from torch import nn

    from nasc.compiler import compile_model
    from nasc.train.synthetic import make_synthetic

    torch.set_num_threads(args.threads)
    x_train, y_train = make_synthetic(5000, seed=0)
    x_test, y_test = make_synthetic(1000, seed=1)
    norm = lambda x: (x.float() / 255.0 - 0.5) / 0.25  # noqa: E731
    x_train, x_test = norm(x_train), norm(x_test)

    def block(i: int, o: int, s: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU())

    def build(name: str) -> nn.Module:
        torch.manual_seed(0)
        if name == "mlp":
            return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 512), nn.ReLU(),
                                 nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
        if name == "cnn":
            return nn.Sequential(block(3, 16, 1), block(16, 16, 1), block(16, 32, 2),
                                 block(32, 32, 1), block(32, 64, 2), block(64, 64, 1),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
        size = {"cells": args.cells, "channels": args.channels}
        if name == "darts_v2":
            return compile_model(ROOT / "examples" / "darts_v2_cifar.nas", aux=False, **size).module
        op = {"all_sep_conv": "sep_conv_3x3", "all_max_pool": "max_pool_3x3",
              "all_skip": "skip_connect"}[name]
        return compile_model(_forced(ROOT / "examples" / "darts_space.nas", op, **size), **size).module

    print(f"built-in data: 5000 train / 1000 test, {args.steps} steps of batch 64, "
          f"lr {args.lr} cosine, {args.threads} threads; cell networks: {args.cells} cells, C={args.channels}")
    for name in args.models.split(","):
        model = build(name)
        params = sum(p.numel() for p in model.parameters())
        opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=3e-4)
        g = torch.Generator().manual_seed(0)
        t0 = time.perf_counter()
        model.train()
        for step in range(args.steps):
            for group in opt.param_groups:
                group["lr"] = 0.5 * args.lr * (1 + math.cos(math.pi * step / args.steps))
            idx = torch.randint(0, len(x_train), (64,), generator=g)
            out = model(x_train[idx])
            logits = out[0] if isinstance(out, tuple) else out
            loss = F.cross_entropy(logits, y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
        model.eval()
        with torch.no_grad():
            correct = sum(int((model(x_test[i:i + 250]).argmax(1) == y_test[i:i + 250]).sum())
                          for i in range(0, len(x_test), 250))
        print(f"  {name:<13} params {params:>9,}  test top-1 {100.0 * correct / len(x_test):5.1f}%  "
              f"({time.perf_counter() - t0:5.1f} s)", flush=True)


if __name__ == "__main__":
    main()
