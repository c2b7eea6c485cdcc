# NAS-Bench-201 op library (Dong & Yang, ICLR 2020): the benchmark's five cell ops, its stem,
# the shortcut of its residual reduction block and its head, built as the benchmark's reference
# code (AutoDL-Projects `cell_operations.py`, `tiny_network.py`) builds them. `import nb201`.
# The op names are the benchmark's, so architecture strings (`|nor_conv_3x3~0|+|...|`) read
# directly; three of them (`none`, `skip_connect`, `avg_pool_3x3`) are also names in std.nas,
# so a file imports one library or the other.
#
# Where nasc's primitives cannot build exactly what the reference builds, the reference case
# is one the NAS-Bench-201 network never uses (every cell op there has stride 1 and C_in ==
# C_out), and the difference is noted at the op.

# zeros of the (strided) input; the reference's `Zero` also changes the channel count when
# C_in != C_out, which nasc's `zero` does not (such a use is a shape error, never wrong numbers)
op none = zero(stride=stride)

# ReLU - conv - BN (the reference's `ReLUConvBN`, bias-free conv, affine BN)
op nor_conv(k, pad) {
  relu
  conv(k=k, stride=stride, pad=pad)
  bn
}

op nor_conv_1x1 = nor_conv(k=1, pad=0)
op nor_conv_3x3 = nor_conv(k=3, pad=1)

# identity, else the reference's `FactorizedReduce`: at stride 1 a 1x1 conv + BN (no ReLU); at
# stride 2 nasc's `factorized_reduce` (ReLU, two offset strided 1x1 convs, BN), the same
# weights and outputs as the reference's for even C_out and even input sizes
op skip_connect {
  if stride == 1 and C_in == C_out {
    identity
  } else if stride == 1 {
    conv(k=1)
    bn
  } else {
    factorized_reduce
  }
}

# the reference's `POOLING(..., 'avg')`: a 1x1 ReLU-conv-BN first when the width changes, then a
# 3x3 average that leaves the padding out of the mean
op avg_pool_3x3 {
  if C_in == C_out {
    avg_pool(k=3, stride=stride, pad=1)
  } else {
    relu
    conv(k=1)
    bn
    avg_pool(k=3, stride=stride, pad=1)
  }
}

# ---- the macro network --------------------------------------------------------------------

op nb201_stem {
  conv(k=3, pad=1)
  bn
}

# the shortcut of `ResNetBasicblock`: at stride 2 a 2x2 average pool then a bias-free 1x1 conv
# (no BN); a 1x1 ReLU-conv-BN when only the width changes; else the identity
op nb201_shortcut {
  if stride == 2 {
    avg_pool(k=2, stride=2, pad=0)
    conv(k=1)
  } else if C_in != C_out {
    relu
    conv(k=1)
    bn
  } else {
    identity
  }
}

# `lastact` (BN, ReLU), global average pooling and the linear classifier
op nb201_head {
  bn
  relu
  global_avg_pool
  linear
}
