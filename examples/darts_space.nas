# The DARTS CIFAR-10 search space: 8 cells (reductions at 2 and 5), 4 nodes per cell, every
# node sums two of its predecessors through one of 8 candidate ops. Search builds non-affine BN.
import std

param C = 16
param layers = 8
param classes = 10

choice darts = [none, max_pool_3x3, avg_pool_3x3, skip_connect,
                sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5]

cell normal(s0: preprocess, s1: preprocess) {
  n0 = darts(s0) + darts(s1) keep 2
  n1 = darts(s0) + darts(s1) + darts(n0) keep 2
  n2 = darts(s0) + darts(s1) + darts(n0) + darts(n1) keep 2
  n3 = darts(s0) + darts(s1) + darts(n0) + darts(n1) + darts(n2) keep 2
  return concat(n0, n1, n2, n3)
}

cell reduce(s0: preprocess, s1: preprocess) {
  n0 = darts(s0) + darts(s1) keep 2
  n1 = darts(s0) + darts(s1) + darts(n0) keep 2
  n2 = darts(s0) + darts(s1) + darts(n0) + darts(n1) keep 2
  n3 = darts(s0) + darts(s1) + darts(n0) + darts(n1) + darts(n2) keep 2
  return concat(n0, n1, n2, n3)
}

network darts_space {
  input = (3, 32, 32)
  classes = classes
  stem = cifar_stem(C_out=C * 3)
  cells = layers
  channels = C
  head = classifier
  affine = false
}
