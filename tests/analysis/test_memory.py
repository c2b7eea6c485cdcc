"""The memory planner (`nasc.analysis.memory`) against torch: the activations autograd saves
(measured with saved-tensor hooks, float32, exact to the byte), the peak of a training step
(measured with the profiler's allocation counter, within a stated tolerance), activation
checkpointing per cell (same outputs and gradients; the predicted saving matches the measured one
in direction and roughly in size), `fit_batch` and the torch-free import."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nasc import api
from nasc.analysis.elaborate import elaborate
from nasc.analysis.memory import fit_batch, train_memory
from nasc.errors import ConfigError
from nasc.lower import build_module
from nasc.lower.memprobe import saved_tensor_bytes, step_memory

torch.set_num_threads(1)

# every primitive the planner distinguishes: conv, bn, relu, pools, identity, factorized reduce,
# sum / concat / proj nodes, a concat output, a sum output, an aux head
NET = """
import std
param C = 6
cell normal(s0: preprocess, s1: preprocess) {
  n0 = sep_conv_3x3(s0) + skip_connect(s1)
  n1 = concat(max_pool_3x3(n0), avg_pool_3x3(s1))
  n2 = proj(dil_conv_3x3(n0), conv_bn(s0, k=1))
  n3 = relu(n2) + n0
  return concat(n0, n1, n3)
}
cell reduce(s0: preprocess, s1: preprocess) {
  n0 = skip_connect(s0) + max_pool_3x3(s1)
  n1 = sep_conv_3x3(n0) + dil_conv_3x3(s1)
  return n0 + n1
}
op small_aux {
  relu
  avg_pool(k=3, stride=2)
  conv(out=8, k=1)
  bn
  relu
  global_avg_pool
  linear
}
network tiny {
  input = (3, 8, 8)
  classes = 5
  stem = cifar_stem(C_out=C * 2)
  cells = 3
  channels = C
  head = classifier
  aux = small_aux after 1 weight 0.4
}
"""

SPACE = """
import std
param C = 6
choice darts = [none, max_pool_3x3, avg_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5,
                dil_conv_3x3, dil_conv_5x5]
cell normal(s0: preprocess, s1: preprocess) {
  n0 = darts(s0) + darts(s1) keep 2
  n1 = darts(s0) + darts(s1) + darts(n0) keep 2
  return concat(n0, n1)
}
cell reduce(s0: preprocess, s1: preprocess) {
  n0 = darts(s0) + darts(s1) keep 2
  n1 = darts(s0) + darts(s1) + darts(n0) keep 2
  return concat(n0, n1)
}
network tiny_space {
  input = (3, 8, 8)
  classes = 5
  stem = cifar_stem(C_out=C * 3)
  cells = 3
  channels = C
  head = classifier
  affine = false
}
"""


@pytest.fixture(scope="module")
def net_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("mem") / "tiny.nas"
    p.write_text(NET)
    return p


@pytest.fixture(scope="module")
def space_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("mem") / "space.nas"
    p.write_text(SPACE)
    return p


def _excluded(module: torch.nn.Module) -> list[torch.Tensor]:
    return [*module.parameters(), *module.buffers()]


@pytest.mark.parametrize("batch", [2, 3])
def test_saved_activations_of_a_network_are_exact(net_path: Path, batch: int) -> None:
    torch.manual_seed(0)
    network = elaborate(api.load(net_path))
    module = build_module(network).train()
    x, y = torch.randn(batch, *network.input_shape), torch.randint(0, 5, (batch,))

    def loss() -> torch.Tensor:
        logits, aux = module(x)
        return F.cross_entropy(logits, y) + 0.4 * F.cross_entropy(aux, y)

    _, measured = saved_tensor_bytes(loss, exclude=[*_excluded(module), y])
    plan = train_memory(network, batch=batch)
    # the stem's conv saves the batch itself, which the planner counts as the input, not twice
    assert plan.activations + x.nbytes == measured


@pytest.mark.parametrize("channels_last", [True, False])
def test_saved_activations_of_a_supernet_are_exact(space_path: Path, channels_last: bool) -> None:
    from nasc.search.darts_supernet import DartsSupernet

    torch.manual_seed(0)
    sup = DartsSupernet.build(api.load(space_path), channels_last=channels_last).train()
    x, y = torch.randn(2, 3, 8, 8), torch.randint(0, 5, (2,))
    _, measured = saved_tensor_bytes(lambda: F.cross_entropy(sup(x), y), exclude=[*_excluded(sup), y])
    plan = api.train_memory(space_path, batch=2)
    # the supernet's channels-last copy of the batch is a tensor of its own; without it the conv
    # saves the batch (held by the caller) instead: the same bytes either way
    assert plan.activations == measured


def test_peak_of_a_training_step_within_ten_percent(net_path: Path) -> None:
    torch.manual_seed(0)
    network = elaborate(api.load(net_path, ["C=16"]))
    module = build_module(network)
    opt = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9, weight_decay=3e-4)
    x, y = torch.randn(16, *network.input_shape), torch.randint(0, 5, (16,))
    measured = step_memory(module, x, y, opt, aux_weight=0.4)
    plan = train_memory(network, batch=16, optimizer="sgd")
    assert abs(plan.peak - measured.peak) <= 0.10 * measured.peak, (plan.peak, measured.peak)


def test_peak_is_linear_in_the_batch_and_optimizer_state_counts(net_path: Path) -> None:
    network = elaborate(api.load(net_path))
    a, b = train_memory(network, batch=10), train_memory(network, batch=20)
    assert b.peak > a.peak and b.peak_at == a.peak_at
    assert b.peak - a.peak == 10 * a.per_image
    adam = train_memory(network, batch=10, optimizer="adam")
    assert adam.optimizer_state == 2 * a.optimizer_state == 2 * a.weights
    with pytest.raises(ConfigError, match="unknown optimizer"):
        train_memory(network, batch=10, optimizer="lion")
    with pytest.raises(ConfigError, match="batch size"):
        train_memory(network, batch=0)


def test_fit_batch_is_the_largest_that_fits(net_path: Path) -> None:
    network = elaborate(api.load(net_path))
    budget = 64 * 2**20
    b = fit_batch(network, budget)
    assert b > 1
    assert train_memory(network, batch=b).peak <= budget < train_memory(network, batch=b + 1).peak
    assert fit_batch(network, 1000) == 0
    assert api.fit_memory(net_path, "64M") == b == api.fit_memory(net_path, "64MB")
    with pytest.raises(ConfigError, match="not a memory size"):
        api.fit_memory(net_path, "lots")


def test_checkpointing_keeps_outputs_gradients_and_statistics(net_path: Path) -> None:
    torch.manual_seed(0)
    network = elaborate(api.load(net_path))
    ref = build_module(network).double().train()
    ck = build_module(network).double().train()
    ck.load_state_dict(ref.state_dict())
    ck.checkpoint_cells = True
    ref.drop_path_prob = ck.drop_path_prob = 0.0
    x = torch.randn(3, *network.input_shape, dtype=torch.float64)
    outs = []
    for m in (ref, ck):
        torch.manual_seed(1)
        logits, aux = m(x)
        (logits.square().sum() + aux.sum()).backward()
        outs.append((logits.detach(), aux.detach()))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
    for (n, p), q in zip(ref.named_parameters(), ck.parameters()):
        assert p.grad is not None and q.grad is not None and torch.equal(p.grad, q.grad), n
    for (n, b), c in zip(ref.named_buffers(), ck.buffers()):
        assert torch.equal(b, c), n  # the recomputation does not update the BN statistics again


def test_checkpointing_a_supernet_keeps_alpha_gradients(space_path: Path) -> None:
    from nasc.search.darts_supernet import DartsSupernet

    torch.manual_seed(0)
    ref = DartsSupernet.build(api.load(space_path), channels_last=False).double()
    ck = DartsSupernet.build(api.load(space_path), channels_last=False).double()
    ck.load_state_dict(ref.state_dict())
    ck.net.checkpoint_cells = True
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    for m in (ref, ck):
        m(x).square().sum().backward()
    for (n, p), q in zip(ref.named_parameters(), ck.parameters()):
        assert p.grad is not None and q.grad is not None and torch.equal(p.grad, q.grad), n


def test_checkpointing_saving_predicted_and_measured(net_path: Path) -> None:
    network = elaborate(api.load(net_path, ["C=16"]))
    x, y = torch.randn(16, *network.input_shape), torch.randint(0, 5, (16,))
    peaks = []
    for flag in (False, True):
        torch.manual_seed(0)
        module = build_module(network)
        module.checkpoint_cells = flag
        opt = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9)
        peaks.append(step_memory(module, x, y, opt, aux_weight=0.4).peak)
    measured = peaks[0] - peaks[1]
    predicted = (train_memory(network, batch=16).peak
                 - train_memory(network, batch=16, checkpointing=True).peak)
    assert predicted > 0 and measured > 0
    assert 0.5 <= measured / predicted <= 2.0, (measured, predicted)


def test_memory_planner_imports_no_torch() -> None:
    code = ("import sys\n"
            "import nasc.analysis.memory\n"
            "from nasc import api\n"
            "api.train_memory('examples/darts_space.nas', batch=8)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
