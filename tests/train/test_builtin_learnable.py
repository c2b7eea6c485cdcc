"""The built-in dataset's contract: a small convnet learns it in about a hundred steps, a
position-dependent MLP of far more parameters does much worse under the same budget (the objects
move). `benchmarks/builtin_difficulty.py` prints the same comparison at full size."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nasc.train.synthetic import make_synthetic


def _fit_and_test(model: nn.Module, x: torch.Tensor, y: torch.Tensor, xt: torch.Tensor,
                  yt: torch.Tensor, steps: int, lr: float) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=3e-4)
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (64,), generator=g)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return float((model(xt).argmax(1) == yt).float().mean())


@pytest.mark.slow
def test_a_small_convnet_learns_it_quickly_and_an_mlp_does_not() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x, y = make_synthetic(2000, seed=0)
        xt, yt = make_synthetic(500, seed=1)
        x, xt = ((t.float() / 255.0 - 0.5) / 0.25 for t in (x, xt))
        torch.manual_seed(0)

        def block(i: int, o: int, s: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU())

        cnn = nn.Sequential(block(3, 16, 1), block(16, 32, 2), block(32, 32, 1), block(32, 64, 2),
                            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
        mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 512), nn.ReLU(),
                            nn.Linear(512, 10))
        cnn_acc = _fit_and_test(cnn, x, y, xt, yt, steps=120, lr=0.05)
        mlp_acc = _fit_and_test(mlp, x, y, xt, yt, steps=120, lr=0.01)
    finally:
        torch.set_num_threads(threads)
    assert cnn_acc >= 0.5, cnn_acc
    assert mlp_acc <= cnn_acc - 0.2, (mlp_acc, cnn_acc)

