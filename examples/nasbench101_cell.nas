# A NASBench-101-style network (Ying et al., 2019): a conv-bn-relu stem with 128 channels, three
# stacks of three cells (the first cell of stacks 2 and 3 halves the map and doubles the width),
# global average pooling and a linear classifier. The cell is one 5-vertex DAG over the cell
# input built from the NASBench-101 vertex ops.
import std

param C = 128
param stacks = 3
param cells_per_stack = 3
param classes = 10

# the NASBench-101 vertex ops
op conv3x3_bn_relu = conv_bn_relu(k=3)
op conv1x1_bn_relu = conv_bn_relu(k=1)
op maxpool3x3 = max_pool(k=3, stride=stride, pad=1)

# NASBench-101 projects the cell input to the cell width with a 1x1 conv-bn-relu
cell nb101(x: conv1x1_bn_relu) {
  v1 = conv3x3_bn_relu(x)
  v2 = conv1x1_bn_relu(x)
  v3 = maxpool3x3(v1)
  v4 = proj(conv3x3_bn_relu(v2), v3)
  v5 = conv1x1_bn_relu(v4) + v1
  return concat(v4, v5)
}

network nasbench101 {
  input = (3, 32, 32)
  classes = classes
  stem = conv_bn_relu(C_out=C)
  cells = stacks * cells_per_stack
  channels = C
  reductions = (cells_per_stack, 2 * cells_per_stack)
  normal = nb101
  reduce = nb101
  head = classifier
}
