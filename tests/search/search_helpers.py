"""Helpers of the DARTS tests: a tiny search space (2 nodes per cell, 8x8 inputs)."""
from __future__ import annotations

from pathlib import Path

from nasc.frontend import parse_source
from nasc.ir.model import Model

TINY_SPACE = """\
import std

param C = 4
param layers = 3
param classes = 5

choice darts = [none, max_pool_3x3, avg_pool_3x3, skip_connect,
                sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5]

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

network tiny {
  input = (3, 8, 8)
  classes = classes
  stem = cifar_stem(C_out=C * 3)
  cells = layers
  channels = C
  head = classifier
  affine = false
}
"""


def tiny_space() -> Model:
    """The tiny space: 3 cells (normal, reduce, reduce), C=4, 2 nodes, 8 candidates, 5 classes."""
    return parse_source(TINY_SPACE, "tiny.nas")


# The same skeleton with candidates that have no ReLU / max pool: the loss is smooth in the
# weights, so DARTS' finite-difference Hessian term (eps = 0.01 / ||dw||) approximates the exact
# one closely. (With ReLUs a perturbation of that size crosses kinks in a small network.)
SMOOTH_SPACE = TINY_SPACE.replace("""choice darts = [none, max_pool_3x3, avg_pool_3x3, skip_connect,
                sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5]""", """\
op lin_sep_3x3 {
  conv(out=C_in, k=3, stride=stride, pad=1, groups=C_in)
  conv(k=1)
  bn
}
op lin_dil_5x5 {
  conv(out=C_in, k=5, stride=stride, pad=4, dilation=2, groups=C_in)
  conv(k=1)
  bn
}
op lin_skip { if stride == 1 { identity } else { conv_bn(k=1) } }
op lin_pre { conv_bn(k=1) }
choice darts = [none, avg_pool_3x3, lin_skip, lin_sep_3x3, lin_dil_5x5]""").replace(
    "(s0: preprocess, s1: preprocess)", "(s0: lin_pre, s1: lin_pre)")


def smooth_space() -> Model:
    """`tiny_space` with ReLU-free candidates and preprocessing (5 candidates per edge)."""
    return parse_source(SMOOTH_SPACE, "smooth.nas")
