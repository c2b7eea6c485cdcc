# DARTS_V2 as the paper's ImageNet mobile-setting network: 14 cells, initial width 48, two
# strided stems (224 -> 28), auxiliary tower after cell 2*14//3 (weight 0.4).
import std

param C = 48
param layers = 14
param classes = 1000

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
