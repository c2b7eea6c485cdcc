# ResNet-20 for CIFAR-10 (He et al., 2016): a 3x3 conv stem with 16 channels, three stages of
# three basic blocks (16, 32 and 64 channels; the first block of stages 2 and 3 halves the map),
# global average pooling and a linear classifier. The shortcut of a block that changes the shape
# is a strided 1x1 conv + BN (option B of the paper).
import std

param C = 16
param blocks = 9
param classes = 10

# a basic block: conv-bn-relu, conv-bn, add the shortcut, relu. In a reduction cell every edge
# that reads the input `x` gets stride 2 (and the cell width doubles).
cell block(x) {
  n0 = conv_bn_relu(x)
  n1 = conv_bn(n0) + shortcut(x)
  n2 = relu(n1)
  return n2
}

network resnet20 {
  input = (3, 32, 32)
  classes = classes
  stem = conv_bn_relu(C_out=C)
  cells = blocks
  channels = C
  reductions = (blocks // 3, 2 * blocks // 3)
  normal = block
  reduce = block
  head = classifier
}
