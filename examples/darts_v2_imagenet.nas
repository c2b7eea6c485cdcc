# DARTS_V2 as the paper's ImageNet mobile-setting network: 14 cells, initial width 48, two
# strided stems (224 -> 28), auxiliary tower after cell 2*14//3 (weight 0.4).
import std

param C = 48
param layers = 14
param classes = 1000

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

network darts_v2_imagenet {
  input = (3, 224, 224)
  classes = classes
  stem = imagenet_stem0(C_out=C)
  stem = imagenet_stem1(C_out=C)
  cells = layers
  channels = C
  reductions = (layers // 3, 2 * layers // 3)
  head = classifier
  aux = imagenet_aux after 2 * layers // 3 weight 0.4
}
