"""A faithful transcription of the NAS-Bench-201 reference builder (D-X-Y/AutoDL-Projects:
`models/cell_operations.py` OPS / ReLUConvBN / POOLING / Zero / FactorizedReduce /
ResNetBasicblock, `models/cell_infers/cells.py` InferCell, `models/cell_infers/tiny_network.py`
TinyNetwork, and the architecture-string reader `str2lists` of the NAS-Bench-201 API), used only
as the test oracle for the NB201 space and network in nasc.

Differences from the original, none of which change parameters or the math of a forward:
- only the five NAS-Bench-201 ops are kept in OPS (the other entries build other spaces);
- `forward` of TinyNetwork returns the logits only (the original returns `(features, logits)`);
- `InferCell` takes the node list of `str2lists` (the original takes a `CellStructure`, whose
  length counts the input node too, hence its `range(1, len(genotype))`);
- type hints and docstrings added.
"""
from __future__ import annotations

import torch
import torch.nn as nn

NAS_BENCH_201 = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def str2lists(arch_str: str) -> list[tuple[tuple[str, int], ...]]:
    """`|nor_conv_3x3~0|+|...|` -> per node the `(op, input node)` pairs (the API's `str2lists`)."""
    genotypes = []
    for node_str in arch_str.split("+"):
        inputs = [x for x in node_str.split("|") if x != ""]
        for xinput in inputs:
            assert len(xinput.split("~")) == 2, f"invalid input length : {xinput}"
        genotypes.append(tuple((op, int(idx)) for op, idx in (xi.split("~") for xi in inputs)))
    return genotypes


class ReLUConvBN(nn.Module):
    """ReLU - conv (no bias) - BN."""

    def __init__(self, C_in: int, C_out: int, kernel_size, stride, padding, dilation, affine: bool,
                 track_running_stats: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class POOLING(nn.Module):
    """A 1x1 ReLUConvBN when the width changes, then a 3x3 pool."""

    def __init__(self, C_in: int, C_out: int, stride: int, mode: str, affine: bool = True,
                 track_running_stats: bool = True) -> None:
        super().__init__()
        if C_in == C_out:
            self.preprocess = None
        else:
            self.preprocess = ReLUConvBN(C_in, C_out, 1, 1, 0, 1, affine, track_running_stats)
        if mode == "avg":
            self.op = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
        elif mode == "max":
            self.op = nn.MaxPool2d(3, stride=stride, padding=1)
        else:
            raise ValueError(f"Invalid mode={mode} in POOLING")

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = self.preprocess(inputs) if self.preprocess else inputs
        return self.op(x)


class Identity(nn.Module):
    """Returns its input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Zero(nn.Module):
    """Zeros of the output shape."""

    def __init__(self, C_in: int, C_out: int, stride: int) -> None:
        super().__init__()
        self.C_in, self.C_out, self.stride = C_in, C_out, stride
        self.is_zero = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.C_in == self.C_out:
            if self.stride == 1:
                return x.mul(0.0)
            return x[:, :, :: self.stride, :: self.stride].mul(0.0)
        shape = list(x.shape)
        shape[1] = self.C_out
        return x.new_zeros(shape, dtype=x.dtype, device=x.device)


class FactorizedReduce(nn.Module):
    """Stride 2: two offset strided 1x1 convs (padded), concatenated, BN; stride 1: 1x1 conv, BN."""

    def __init__(self, C_in: int, C_out: int, stride: int, affine: bool, track_running_stats: bool) -> None:
        super().__init__()
        self.stride, self.C_in, self.C_out = stride, C_in, C_out
        self.relu = nn.ReLU(inplace=False)
        if stride == 2:
            C_outs = [C_out // 2, C_out - C_out // 2]
            self.convs = nn.ModuleList()
            for i in range(2):
                self.convs.append(nn.Conv2d(C_in, C_outs[i], 1, stride=stride, padding=0, bias=False))
            self.pad = nn.ConstantPad2d((0, 1, 0, 1), 0)
        elif stride == 1:
            self.conv = nn.Conv2d(C_in, C_out, 1, stride=stride, padding=0, bias=False)
        else:
            raise ValueError(f"Invalid stride : {stride}")
        self.bn = nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:
            x = self.relu(x)
            y = self.pad(x)
            out = torch.cat([self.convs[0](x), self.convs[1](y[:, :, 1:, 1:])], dim=1)
        else:
            out = self.conv(x)
        return self.bn(out)


OPS = {
    "none": lambda C_in, C_out, stride, affine, track: Zero(C_in, C_out, stride),
    "avg_pool_3x3": lambda C_in, C_out, stride, affine, track: POOLING(C_in, C_out, stride, "avg", affine, track),
    "nor_conv_3x3": lambda C_in, C_out, stride, affine, track: ReLUConvBN(
        C_in, C_out, (3, 3), (stride, stride), (1, 1), (1, 1), affine, track),
    "nor_conv_1x1": lambda C_in, C_out, stride, affine, track: ReLUConvBN(
        C_in, C_out, (1, 1), (stride, stride), (0, 0), (1, 1), affine, track),
    "skip_connect": lambda C_in, C_out, stride, affine, track: Identity() if stride == 1 and C_in == C_out
    else FactorizedReduce(C_in, C_out, stride, affine, track),
}


class ResNetBasicblock(nn.Module):
    """Two 3x3 ReLUConvBNs (the first strided) plus a shortcut."""

    def __init__(self, inplanes: int, planes: int, stride: int, affine: bool = True) -> None:
        super().__init__()
        assert stride == 1 or stride == 2, f"invalid stride {stride}"
        self.conv_a = ReLUConvBN(inplanes, planes, 3, stride, 1, 1, affine)
        self.conv_b = ReLUConvBN(planes, planes, 3, 1, 1, 1, affine)
        if stride == 2:
            self.downsample: nn.Module | None = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                nn.Conv2d(inplanes, planes, kernel_size=1, stride=1, padding=0, bias=False))
        elif inplanes != planes:
            self.downsample = ReLUConvBN(inplanes, planes, 1, 1, 0, 1, affine)
        else:
            self.downsample = None
        self.in_dim, self.out_dim, self.stride = inplanes, planes, stride

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        basicblock = self.conv_b(self.conv_a(inputs))
        residual = self.downsample(inputs) if self.downsample is not None else inputs
        return residual + basicblock


class InferCell(nn.Module):
    """The NAS-Bench-201 cell: node i sums its edges' ops over earlier nodes; output = last node."""

    def __init__(self, genotype, C_in: int, C_out: int, stride: int, affine: bool = True,
                 track_running_stats: bool = True) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        self.node_IN: list[list[int]] = []
        self.node_IX: list[list[int]] = []
        for i in range(1, len(genotype) + 1):
            node_info = genotype[i - 1]
            cur_index, cur_innod = [], []
            for op_name, op_in in node_info:
                if op_in == 0:
                    layer = OPS[op_name](C_in, C_out, stride, affine, track_running_stats)
                else:
                    layer = OPS[op_name](C_out, C_out, 1, affine, track_running_stats)
                cur_index.append(len(self.layers))
                cur_innod.append(op_in)
                self.layers.append(layer)
            self.node_IX.append(cur_index)
            self.node_IN.append(cur_innod)
        self.in_dim, self.out_dim = C_in, C_out

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        nodes = [inputs]
        for node_layers, node_innods in zip(self.node_IX, self.node_IN):
            nodes.append(sum(self.layers[_il](nodes[_ii]) for _il, _ii in zip(node_layers, node_innods)))
        return nodes[-1]


class TinyNetwork(nn.Module):
    """The NAS-Bench-201 macro network: stem, 3 stages of N cells with residual reductions, head."""

    def __init__(self, C: int, N: int, genotype, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, C, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(C))
        layer_channels = [C] * N + [C * 2] + [C * 2] * N + [C * 4] + [C * 4] * N
        layer_reductions = [False] * N + [True] + [False] * N + [True] + [False] * N
        C_prev = C
        self.cells = nn.ModuleList()
        for C_curr, reduction in zip(layer_channels, layer_reductions):
            if reduction:
                cell: nn.Module = ResNetBasicblock(C_prev, C_curr, 2)
            else:
                cell = InferCell(genotype, C_prev, C_curr, 1)
            self.cells.append(cell)
            C_prev = cell.out_dim
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        feature = self.stem(inputs)
        for cell in self.cells:
            feature = cell(feature)
        out = self.global_pooling(self.lastact(feature))
        return self.classifier(out.view(out.size(0), -1))


def count_parameters(model: nn.Module) -> int:
    """All parameters of `model`, in units."""
    return sum(p.numel() for p in model.parameters())
