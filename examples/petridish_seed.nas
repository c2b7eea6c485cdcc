# Petridish's seed: a small DARTS-style skeleton (CIFAR stem, three nodes per cell, reductions at
# one and two thirds) that `nasc search petridish` grows. With the `pareto` seed pool the search
# starts from every combination of cells, reductions and nodes (the first k nodes of each cell)
# from this network's own up to the configured maxima.
import std

param C = 8
param layers = 3
param classes = 10

cell normal(s0: preprocess, s1: preprocess) {
  n0 = sep_conv_3x3(s1) + skip_connect(s0)
  n1 = max_pool_3x3(n0) + skip_connect(s1)
  n2 = sep_conv_3x3(n1) + skip_connect(n0)
  return concat(n0, n1, n2)
}

cell reduce(s0: preprocess, s1: preprocess) {
  n0 = max_pool_3x3(s0) + sep_conv_3x3(s1)
  n1 = skip_connect(n0) + max_pool_3x3(s1)
  n2 = max_pool_3x3(n1) + skip_connect(n0)
  return concat(n0, n1, n2)
}

network petridish_seed {
  input = (3, 32, 32)
  classes = classes
  stem = cifar_stem(C_out=C * 3)
  cells = layers
  channels = C
  reductions = (layers // 3, 2 * layers // 3)
  head = classifier
}
