"""Fidelity against the reference DARTS code (tests/reference/darts_reference.py): the lowered
examples have exactly the reference's parameters (count and sorted shapes), and with the
reference's weights copied in they compute the same outputs, in eval and in training with drop
path (same seed, same per-sample masks)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from nasc.analysis.elaborate import elaborate
from nasc.frontend import load_model
from nasc.ir.model import Model
from nasc.lower import NascNet, build_module
from nasc.passes import run_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))

import darts_reference as ref  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def lowered(name: str, passes: str = "", **overrides: object) -> NascNet:
    model: Model = load_model(EXAMPLES / f"{name}.nas", overrides=overrides or None)
    if passes:
        model = run_pipeline(model, passes, {"aux-towers": {"enable": False}} if "aux-towers" in passes else None,
                             verify=True)
    return build_module(elaborate(model))


def n_params(m: nn.Module, skip_prefix: str | None = None) -> int:
    return sum(p.numel() for k, p in m.named_parameters() if not (skip_prefix and k.startswith(skip_prefix)))


def shapes(m: nn.Module) -> list[tuple[int, ...]]:
    return sorted(tuple(p.shape) for p in m.parameters())


def test_darts_v2_cifar_params_equal_network_cifar() -> None:
    net = lowered("darts_v2_cifar")
    reference = ref.NetworkCIFAR(36, 10, 20, True, ref.DARTS_V2)
    assert n_params(net, "aux.") == ref.count_parameters(reference) == 3_349_342
    assert n_params(net) == n_params(reference) == 3_825_768
    assert shapes(net) == shapes(reference)
    assert shapes(net.aux) == shapes(reference.auxiliary_head)


def test_darts_v2_cifar_without_aux_equals_network_cifar_without_aux() -> None:
    net = lowered("darts_v2_cifar", passes="aux-towers")
    reference = ref.NetworkCIFAR(36, 10, 20, False, ref.DARTS_V2)
    assert net.aux is None
    assert n_params(net) == n_params(reference) == 3_349_342
    assert shapes(net) == shapes(reference)


def test_darts_v2_imagenet_params_equal_network_imagenet() -> None:
    net = lowered("darts_v2_imagenet")
    reference = ref.NetworkImageNet(48, 1000, 14, True, ref.DARTS_V2)
    assert n_params(net, "aux.") == ref.count_parameters(reference) == 4_718_752
    assert n_params(net) == n_params(reference)
    assert shapes(net) == shapes(reference)
    no_aux = lowered("darts_v2_imagenet", passes="aux-towers")
    reference = ref.NetworkImageNet(48, 1000, 14, False, ref.DARTS_V2)
    assert n_params(no_aux) == n_params(reference) == 4_718_752
    assert shapes(no_aux) == shapes(reference)


def test_darts_space_weights_equal_search_network() -> None:
    net = lowered("darts_space")
    reference = ref.SearchNetwork(16, 10, 8)
    assert n_params(net) == ref.count_parameters(reference) == 1_930_618
    assert shapes(net) == shapes(reference)
    # the alphas are the caller's, not module parameters: one (14, 8) matrix per template
    assert net.arch_templates == ["normal", "reduce"]


def copy_reference_weights(reference: nn.Module, net: NascNet) -> None:
    """Map the reference state (params and BN buffers) onto the lowered net in order. The orders
    line up except that the reference registers its aux head before the classifier."""
    items = list(reference.state_dict().items())
    ordered = [kv for kv in items if not kv[0].startswith("auxiliary_head.")] + \
              [kv for kv in items if kv[0].startswith("auxiliary_head.")]
    mine = list(net.state_dict().items())
    assert len(ordered) == len(mine)
    new = {}
    for (rk, rv), (mk, mv) in zip(ordered, mine):
        assert rv.shape == mv.shape, (rk, mk)
        new[mk] = rv.clone()
    net.load_state_dict(new)


def perturb_bn(m: nn.Module) -> None:
    """Non-trivial BN statistics and affine params so eval mode exercises them."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for b in m.modules():
            if isinstance(b, nn.BatchNorm2d):
                b.running_mean.copy_(torch.randn(b.num_features, generator=g) * 0.1)
                b.running_var.copy_(torch.rand(b.num_features, generator=g) + 0.5)
                if b.affine:
                    b.weight.copy_(torch.rand(b.num_features, generator=g) + 0.5)
                    b.bias.copy_(torch.randn(b.num_features, generator=g) * 0.1)


def compare_forward(reference: nn.Module, net: NascNet, x: torch.Tensor) -> None:
    perturb_bn(reference)
    copy_reference_weights(reference, net)
    reference.eval()
    net.eval()
    with torch.no_grad():
        expected, _ = reference(x)
        assert torch.allclose(net(x), expected, atol=1e-5, rtol=1e-4)
    reference.train()
    net.train()
    reference.drop_path_prob = net.drop_path_prob = 0.3
    torch.manual_seed(7)
    exp_logits, exp_aux = reference(x)
    torch.manual_seed(7)
    logits, aux = net(x)
    assert torch.allclose(logits, exp_logits, atol=1e-5, rtol=1e-4)
    assert torch.allclose(aux, exp_aux, atol=1e-5, rtol=1e-4)


def test_darts_v2_cifar_forward_matches_reference() -> None:
    net = lowered("darts_v2_cifar", passes="drop-path", C=8, layers=5)
    torch.manual_seed(0)
    compare_forward(ref.NetworkCIFAR(8, 10, 5, True, ref.DARTS_V2), net, torch.randn(4, 3, 32, 32))


def test_darts_v2_imagenet_forward_matches_reference() -> None:
    net = lowered("darts_v2_imagenet", passes="drop-path", C=8, layers=5, classes=7)
    torch.manual_seed(0)
    compare_forward(ref.NetworkImageNet(8, 7, 5, True, ref.DARTS_V2), net, torch.randn(2, 3, 224, 224))


def test_darts_space_forward_matches_search_network() -> None:
    """The lowered search space with the reference's weights and alphas computes the reference
    search network's logits (eval and training-mode batch norm)."""
    net = lowered("darts_space", C=4, layers=5)
    torch.manual_seed(0)
    reference = ref.SearchNetwork(4, 10, 5)
    with torch.no_grad():
        reference.alphas_normal.normal_(0, 1)
        reference.alphas_reduce.normal_(0, 1)
    perturb_bn(reference)
    copy_reference_weights(reference, net)
    arch = {"normal": torch.softmax(reference.alphas_normal.detach(), -1),
            "reduce": torch.softmax(reference.alphas_reduce.detach(), -1)}
    x = torch.randn(4, 3, 32, 32)
    for train in (False, True):
        reference.train(train)
        net.train(train)
        with torch.no_grad():
            assert torch.allclose(net(x, arch), reference(x), atol=1e-5, rtol=1e-4)
