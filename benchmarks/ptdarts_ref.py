"""A faithful, self-contained copy of the pt.darts search network and architect (khanrc/pt.darts),
used only as the speed/memory baseline of `benchmarks/darts_step.py` and as an independent reference
in tests (`tests/search`). Not part of the nasc package; plain torch, no torchvision.

Differences from the original: none in the math except `compute_hessian`, where pt.darts writes
`(p - n) / 2. * eps` (operator precedence: multiplies by eps); the original DARTS code and this copy
divide by `2 * eps`.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

PRIMITIVES = ["max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
              "dil_conv_3x3", "dil_conv_5x5", "none"]


class PoolBN(nn.Module):
    """AvgPool or MaxPool followed by BN."""

    def __init__(self, pool_type: str, C: int, kernel_size: int, stride: int, padding: int,
                 affine: bool = True) -> None:
        super().__init__()
        if pool_type.lower() == "max":
            self.pool: nn.Module = nn.MaxPool2d(kernel_size, stride, padding)
        else:
            self.pool = nn.AvgPool2d(kernel_size, stride, padding, count_include_pad=False)
        self.bn = nn.BatchNorm2d(C, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.pool(x))


class StdConv(nn.Module):
    """ReLU - Conv - BN."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int,
                 affine: bool = True) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.ReLU(), nn.Conv2d(C_in, C_out, kernel_size, stride, padding, bias=False),
                                 nn.BatchNorm2d(C_out, affine=affine))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DilConv(nn.Module):
    """ReLU - depthwise (dilated) conv - pointwise conv - BN."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int,
                 dilation: int, affine: bool = True) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(C_in, C_in, kernel_size, stride, padding, dilation=dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, stride=1, padding=0, bias=False),
            nn.BatchNorm2d(C_out, affine=affine))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SepConv(nn.Module):
    """Two DilConvs with dilation 1."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int,
                 affine: bool = True) -> None:
        super().__init__()
        self.net = nn.Sequential(DilConv(C_in, C_in, kernel_size, stride, padding, dilation=1, affine=affine),
                                 DilConv(C_in, C_out, kernel_size, 1, padding, dilation=1, affine=affine))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Zero(nn.Module):
    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x * 0.
        return x[:, :, ::self.stride, ::self.stride] * 0.


class FactorizedReduce(nn.Module):
    """Reduce the feature map size by two 1x1 stride-2 convs on offset grids."""

    def __init__(self, C_in: int, C_out: int, affine: bool = True) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        out = torch.cat([self.conv1(x), self.conv2(x[:, :, 1:, 1:])], dim=1)
        return self.bn(out)


OPS = {
    "none": lambda C, stride, affine: Zero(stride),
    "avg_pool_3x3": lambda C, stride, affine: PoolBN("avg", C, 3, stride, 1, affine=affine),
    "max_pool_3x3": lambda C, stride, affine: PoolBN("max", C, 3, stride, 1, affine=affine),
    "skip_connect": lambda C, stride, affine: Identity() if stride == 1 else FactorizedReduce(C, C, affine=affine),
    "sep_conv_3x3": lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine=affine),
    "sep_conv_5x5": lambda C, stride, affine: SepConv(C, C, 5, stride, 2, affine=affine),
    "dil_conv_3x3": lambda C, stride, affine: DilConv(C, C, 3, stride, 2, 2, affine=affine),
    "dil_conv_5x5": lambda C, stride, affine: DilConv(C, C, 5, stride, 4, 2, affine=affine),
}


class MixedOp(nn.Module):
    """Mixed operation of the search cell."""

    def __init__(self, C: int, stride: int) -> None:
        super().__init__()
        self._ops = nn.ModuleList([OPS[p](C, stride, affine=False) for p in PRIMITIVES])

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self._ops))


class SearchCell(nn.Module):
    """A search cell: every node sums MixedOps of all previous states."""

    def __init__(self, n_nodes: int, C_pp: int, C_p: int, C: int, reduction_p: bool, reduction: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.n_nodes = n_nodes
        if reduction_p:
            self.preproc0: nn.Module = FactorizedReduce(C_pp, C, affine=False)
        else:
            self.preproc0 = StdConv(C_pp, C, 1, 1, 0, affine=False)
        self.preproc1 = StdConv(C_p, C, 1, 1, 0, affine=False)
        self.dag = nn.ModuleList()
        for i in range(self.n_nodes):
            self.dag.append(nn.ModuleList())
            for j in range(2 + i):
                stride = 2 if reduction and j < 2 else 1
                self.dag[i].append(MixedOp(C, stride))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, w_dag: list[torch.Tensor]) -> torch.Tensor:
        s0 = self.preproc0(s0)
        s1 = self.preproc1(s1)
        states = [s0, s1]
        for edges, w_list in zip(self.dag, w_dag):
            s_cur = sum(edges[i](s, w) for i, (s, w) in enumerate(zip(states, w_list)))
            states.append(s_cur)
        return torch.cat(states[2:], dim=1)


class SearchCNN(nn.Module):
    """The search network."""

    def __init__(self, C_in: int, C: int, n_classes: int, n_layers: int, n_nodes: int = 4,
                 stem_multiplier: int = 3) -> None:
        super().__init__()
        C_cur = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(C_in, C_cur, 3, 1, 1, bias=False), nn.BatchNorm2d(C_cur))
        C_pp, C_p, C_cur = C_cur, C_cur, C
        self.cells = nn.ModuleList()
        reduction_p = False
        for i in range(n_layers):
            if i in [n_layers // 3, 2 * n_layers // 3]:
                C_cur *= 2
                reduction = True
            else:
                reduction = False
            cell = SearchCell(n_nodes, C_pp, C_p, C_cur, reduction_p, reduction)
            reduction_p = reduction
            self.cells.append(cell)
            C_cur_out = C_cur * n_nodes
            C_pp, C_p = C_p, C_cur_out
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(C_p, n_classes)

    def forward(self, x: torch.Tensor, weights_normal: list[torch.Tensor],
                weights_reduce: list[torch.Tensor]) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            weights = weights_reduce if cell.reduction else weights_normal
            s0, s1 = s1, cell(s0, s1, weights)
        out = self.gap(s1)
        out = out.view(out.size(0), -1)
        return self.linear(out)


class SearchCNNController(nn.Module):
    """SearchCNN with its architecture parameters (alphas) and loss."""

    def __init__(self, C_in: int, C: int, n_classes: int, n_layers: int, n_nodes: int = 4,
                 stem_multiplier: int = 3) -> None:
        super().__init__()
        self.n_nodes = n_nodes
        self.criterion = nn.CrossEntropyLoss()
        n_ops = len(PRIMITIVES)
        self.alpha_normal = nn.ParameterList()
        self.alpha_reduce = nn.ParameterList()
        for i in range(n_nodes):
            self.alpha_normal.append(nn.Parameter(1e-3 * torch.randn(i + 2, n_ops)))
            self.alpha_reduce.append(nn.Parameter(1e-3 * torch.randn(i + 2, n_ops)))
        self._alphas = [(n, p) for n, p in self.named_parameters() if "alpha" in n]
        self.net = SearchCNN(C_in, C, n_classes, n_layers, n_nodes, stem_multiplier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights_normal = [F.softmax(alpha, dim=-1) for alpha in self.alpha_normal]
        weights_reduce = [F.softmax(alpha, dim=-1) for alpha in self.alpha_reduce]
        return self.net(x, weights_normal, weights_reduce)

    def loss(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.criterion(self.forward(X), y)

    def weights(self):  # noqa: ANN201
        return self.net.parameters()

    def alphas(self):  # noqa: ANN201
        for _, p in self._alphas:
            yield p


class Architect:
    """Compute gradients of alphas (pt.darts)."""

    def __init__(self, net: SearchCNNController, w_momentum: float, w_weight_decay: float) -> None:
        self.net = net
        self.v_net = copy.deepcopy(net)
        self.w_momentum = w_momentum
        self.w_weight_decay = w_weight_decay

    def virtual_step(self, trn_X, trn_y, xi, w_optim) -> None:  # noqa: ANN001
        loss = self.net.loss(trn_X, trn_y)
        gradients = torch.autograd.grad(loss, list(self.net.weights()))
        with torch.no_grad():
            for w, vw, g in zip(self.net.weights(), self.v_net.weights(), gradients):
                m = w_optim.state[w].get("momentum_buffer", 0.) * self.w_momentum
                vw.copy_(w - xi * (m + g + self.w_weight_decay * w))
            for a, va in zip(self.net.alphas(), self.v_net.alphas()):
                va.copy_(a)

    def unrolled_backward(self, trn_X, trn_y, val_X, val_y, xi, w_optim) -> None:  # noqa: ANN001
        self.virtual_step(trn_X, trn_y, xi, w_optim)
        loss = self.v_net.loss(val_X, val_y)
        v_alphas = tuple(self.v_net.alphas())
        v_weights = tuple(self.v_net.weights())
        v_grads = torch.autograd.grad(loss, v_alphas + v_weights)
        dalpha = v_grads[:len(v_alphas)]
        dw = v_grads[len(v_alphas):]
        hessian = self.compute_hessian(dw, trn_X, trn_y)
        with torch.no_grad():
            for alpha, da, h in zip(self.net.alphas(), dalpha, hessian):
                alpha.grad = da - xi * h

    def compute_hessian(self, dw, trn_X, trn_y):  # noqa: ANN001, ANN201
        norm = torch.cat([w.view(-1) for w in dw]).norm()
        eps = 0.01 / norm
        with torch.no_grad():
            for p, d in zip(self.net.weights(), dw):
                p += eps * d
        loss = self.net.loss(trn_X, trn_y)
        dalpha_pos = torch.autograd.grad(loss, list(self.net.alphas()))
        with torch.no_grad():
            for p, d in zip(self.net.weights(), dw):
                p -= 2. * eps * d
        loss = self.net.loss(trn_X, trn_y)
        dalpha_neg = torch.autograd.grad(loss, list(self.net.alphas()))
        with torch.no_grad():
            for p, d in zip(self.net.weights(), dw):
                p += eps * d
        return [(p - n) / (2. * eps) for p, n in zip(dalpha_pos, dalpha_neg)]
