"""The transcribed DARTS reference reproduces the published parameter counts and genotype parsing,
so it can serve as the oracle of the lowering fidelity tests (tests/lower)."""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from darts_reference import (  # noqa: E402
    DARTS_V2, PRIMITIVES, NetworkCIFAR, NetworkImageNet, SearchNetwork, count_parameters, drop_path,
)


def test_network_cifar_published_param_count() -> None:
    torch.manual_seed(0)
    net = NetworkCIFAR(36, 10, 20, True, DARTS_V2)
    # "param size = 3.349342MB" in the DARTS CIFAR-10 evaluation log (aux head excluded)
    assert count_parameters(net) == 3_349_342
    assert count_parameters(NetworkCIFAR(36, 10, 20, False, DARTS_V2)) == 3_349_342


def test_network_imagenet_published_param_count() -> None:
    net = NetworkImageNet(48, 1000, 14, True, DARTS_V2)
    assert count_parameters(net) == 4_718_752


def test_search_network_published_param_count() -> None:
    net = SearchNetwork(16, 10, 8)
    # "param size = 1.930618MB" in the DARTS search log; the alphas are not module parameters
    assert count_parameters(net) == 1_930_618
    assert [tuple(a.shape) for a in net.arch_parameters()] == [(14, 8), (14, 8)]


def test_genotype_parse_picks_strongest_non_none_edges() -> None:
    net = SearchNetwork(4, 10, 3)
    with torch.no_grad():
        net.alphas_normal.zero_()
        net.alphas_reduce.zero_()
        # node 0: edge 1 prefers sep_conv_3x3, edge 0 prefers none (ignored: its best non-none is 0)
        net.alphas_normal[0, PRIMITIVES.index("none")] = 5.0
        net.alphas_normal[1, PRIMITIVES.index("sep_conv_3x3")] = 2.0
    g = net.genotype()
    assert g.normal[0] == ("sep_conv_3x3", 1)
    assert g.normal[1][1] == 0
    assert list(g.normal_concat) == [2, 3, 4, 5]


def test_drop_path_scales_kept_samples() -> None:
    torch.manual_seed(0)
    x = torch.ones(64, 2, 3, 3)
    y = drop_path(x.clone(), 0.5)
    per_sample = y[:, 0, 0, 0]
    assert set(per_sample.tolist()) <= {0.0, 2.0}
    assert 0 < int((per_sample == 0).sum()) < 64
