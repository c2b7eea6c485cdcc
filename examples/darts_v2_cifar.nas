# DARTS_V2: the cell found by second-order DARTS (Liu et al., 2019), as the paper's CIFAR-10
# network: 20 cells, initial width 36, auxiliary tower after cell 2*20//3 (weight 0.4).
import std

param C = 36
param layers = 20
param classes = 10

cell normal(s0: preprocess, s1: preprocess) {
  n0 = sep_conv_3x3(s0) + sep_conv_3x3(s1)
  n1 = sep_conv_3x3(s0) + sep_conv_3x3(s1)
  n2 = sep_conv_3x3(s1) + skip_connect(s0)
  n3 = skip_connect(s0) + dil_conv_3x3(n0)
  return concat(n0, n1, n2, n3)
}

cell reduce(s0: preprocess, s1: preprocess) {
  n0 = max_pool_3x3(s0) + max_pool_3x3(s1)
  n1 = skip_connect(n0) + max_pool_3x3(s1)
  n2 = max_pool_3x3(s0) + skip_connect(n0)
  n3 = skip_connect(n0) + max_pool_3x3(s1)
  return concat(n0, n1, n2, n3)
}

network darts_v2_cifar {
  input = (3, 32, 32)
  classes = classes
  stem = cifar_stem(C_out=C * 3)
  cells = layers
  channels = C
  reductions = (layers // 3, 2 * layers // 3)
  head = classifier
  aux = cifar_aux after 2 * layers // 3 weight 0.4
}
