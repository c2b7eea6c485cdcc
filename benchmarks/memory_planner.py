"""Predicted vs measured peak memory of one training step (`nasc stats --train-memory`).

    python benchmarks/memory_planner.py                 # the default cases (slow on a small CPU)
    python benchmarks/memory_planner.py --quick         # two small cases

Per case: the planner's prediction (`nasc.analysis.memory.train_memory`, no torch involved) and
the measurement of `nasc.lower.memprobe.step_memory` on the CPU: one SGD step (momentum 0.9,
weight decay 3e-4; zero_grad(set_to_none), forward, cross entropy, backward, step) after a
warm-up step, under `torch.profiler` with `profile_memory=True`. Measured peak = the bytes alive at
the start of the step (weights, BN buffers, momentum, the batch, summed from the tensors) + the
largest running total of the CPU allocations the profiler records during the step. Also the
saved-tensor bytes of the forward (`saved_tensors_hooks`) against the planner's activations.
Supernets run as `DartsSupernet` does on the CPU (channels-last). Float32 throughout.

Sizes: the shared 2-core CPU this was written on runs the full DARTS supernet (C=16, 8 cells)
at about a minute per profiled step at batch 8, so the supernet cases use small batches and a
reduced supernet (C=8, 5 cells); the networks use batch 16/32/64 where they run in seconds.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from nasc import api
from nasc.analysis.elaborate import elaborate
from nasc.analysis.memory import train_memory
from nasc.lower import build_module
from nasc.lower.memprobe import step_memory

MiB = 2**20

#: (label, file, overrides, batches, supernet, checkpointing)
CASES = [
    ("resnet20", "examples/resnet20.nas", [], (16, 32, 64), False, False),
    ("nasbench101_cell C=16", "examples/nasbench101_cell.nas", ["C=16"], (16, 32, 64), False, False),
    ("darts_v2_cifar C=8 6 cells", "examples/darts_v2_cifar.nas", ["C=8", "layers=6"], (16, 32, 64), False, False),
    ("darts_v2_cifar C=8 6 cells, ckpt", "examples/darts_v2_cifar.nas", ["C=8", "layers=6"], (32,), False, True),
    ("resnet20, ckpt", "examples/resnet20.nas", [], (32,), False, True),
    ("supernet C=8 5 cells", "examples/darts_space.nas", ["C=8", "layers=5"], (8, 16), True, False),
    ("supernet C=8 5 cells, ckpt", "examples/darts_space.nas", ["C=8", "layers=5"], (16,), True, True),
    ("supernet C=16 8 cells", "examples/darts_space.nas", [], (8,), True, False),
]
QUICK = [("resnet20", "examples/resnet20.nas", [], (16,), False, False),
         ("supernet C=4 3 cells", "examples/darts_space.nas", ["C=6", "layers=3"], (4,), True, False)]


def measure(path: str, sets: list[str], batch: int, supernet: bool, ckpt: bool) -> tuple[int, int, int, int]:
    """(predicted peak, measured peak, predicted saved, measured saved) in bytes."""
    torch.manual_seed(0)
    model = api.load(path, sets)
    if supernet:
        from nasc.search.darts_supernet import DartsSupernet

        module = DartsSupernet.build(model)
        net, params = module.net.network, module.network_weights()
        module.net.checkpoint_cells = ckpt
    else:
        net = elaborate(model)
        module = build_module(net)
        params = list(module.parameters())
        module.checkpoint_cells = ckpt
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=3e-4)
    x = torch.randn(batch, *net.input_shape)
    y = torch.randint(0, net.classes, (batch,))
    m = step_memory(module, x, y, opt, aux_weight=net.aux_weight)
    pred = train_memory(net, batch=batch, optimizer="sgd", checkpointing=ckpt, supernet=supernet)
    plain = train_memory(net, batch=batch, optimizer="sgd", supernet=supernet)
    # the hooks also see the batch when the first conv saves it (not a supernet's copy)
    first_saves_input = not supernet and bool(net.stems[0].calls) and net.stems[0].calls[0].op == "conv"
    return pred.peak, m.peak, plain.activations + (x.nbytes if first_saves_input else 0), m.saved


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two small cases")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print("| case | batch | predicted peak MiB | measured peak MiB | error | predicted saved MiB | "
          "measured saved MiB | s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    for label, path, sets, batches, sup, ck in (QUICK if args.quick else CASES):
        for b in batches:
            t = time.perf_counter()
            pp, mp, ps, ms = measure(path, sets, b, sup, ck)
            saved = "" if ck else f"{ms / MiB:.2f}"  # under checkpointing the hooks see placeholders
            print(f"| {label} | {b} | {pp / MiB:.2f} | {mp / MiB:.2f} | {100 * (pp - mp) / mp:+.1f}% | "
                  f"{'' if ck else f'{ps / MiB:.2f}'} | {saved} | {time.perf_counter() - t:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
