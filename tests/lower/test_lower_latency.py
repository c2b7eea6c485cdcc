"""`nasc.lower.latency`: what is timed (eval mode, inference mode, warm-up excluded), thread count
restored, the caller's random state untouched, bad arguments refused."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from nasc.analysis.elaborate import elaborate
from nasc.errors import ConfigError
from nasc.frontend import load_model
from nasc.lower.latency import measure_latency, network_latency

ROOT = Path(__file__).resolve().parents[2]


class _Recorder(nn.Module):
    """Records how it is called."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[tuple[int, ...], bool, bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((tuple(x.shape), self.training, torch.is_inference_mode_enabled(),
                           torch.is_grad_enabled()))
        return x.sum()


def test_times_repeat_eval_forwards_after_warmup_and_restores_threads() -> None:
    module = _Recorder().train()
    before = torch.get_num_threads()
    lat = measure_latency(module, (3, 8, 8), batch_size=4, warmup=2, repeat=5, threads=1)
    assert len(module.calls) == 7
    assert set(module.calls) == {((4, 3, 8, 8), False, True, False)}
    assert (lat.batch_size, lat.threads, lat.warmup, lat.repeat, lat.device) == (4, 1, 2, 5, "cpu")
    assert 0 <= lat.min_ms <= lat.median_ms <= lat.p90_ms
    assert torch.get_num_threads() == before


def test_network_latency_leaves_the_global_random_state_alone() -> None:
    network = elaborate(load_model(ROOT / "examples" / "resnet20.nas"))
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    network_latency(network, repeat=1, warmup=0)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"repeat": 0}, {"warmup": -1}])
def test_bad_arguments_are_config_errors(kwargs: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        measure_latency(_Recorder(), (3, 8, 8), **kwargs)
