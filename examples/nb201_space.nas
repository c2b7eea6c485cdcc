# The NAS-Bench-201 search space (Dong & Yang, ICLR 2020) and its macro network, as the
# benchmark's reference code builds it (`TinyNetwork`): a 3x3 conv stem of C = 16 channels,
# three stages of N = 5 cells (16, 32, 64 channels) with a residual reduction block between
# stages, then BN-ReLU, global average pooling and the classifier.
#
# The cell: node 0 is the cell input, nodes 1-3 each sum one edge from every earlier node, and
# every edge is a choice among the benchmark's five ops (15,625 cells). The output is node 3.
# `nasc import nb201 "|nor_conv_3x3~0|+|...|"` gives the network of one architecture string.
import nb201

param C = 16
param N = 5
param classes = 10

choice nb201_ops = [none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3]

cell nb201_cell(x) {
  n1 = nb201_ops(x)
  n2 = nb201_ops(x) + nb201_ops(n1)
  n3 = nb201_ops(x) + nb201_ops(n1) + nb201_ops(n2)
  return n3
}

# `ResNetBasicblock` at stride 2: ReLU-conv-BN twice (the first strided; the width doubles) plus
# the shortcut. A reduction cell strides every edge that reads its input `x`.
cell nb201_resblock(x) {
  a = nor_conv_3x3(x)
  n = nor_conv_3x3(a) + nb201_shortcut(x)
  return n
}

network nb201 {
  input = (3, 32, 32)
  classes = classes
  stem = nb201_stem(C_out=C)
  cells = 3 * N + 2
  channels = C
  reductions = (N, 2 * N + 1)
  normal = nb201_cell
  reduce = nb201_resblock
  head = nb201_head
}
