# nasc standard op library: the DARTS primitives, cell preprocessing, stems and heads,
# written in nasc itself. `import std` brings every op below into scope.
#
# Inside an op body these context names are in scope: C_in, H_in, W_in (the input shape),
# C_out (the width the call must produce), stride, affine. Explicit arguments override them.
# Primitives: conv, bn, relu, max_pool, avg_pool, identity, zero, factorized_reduce, sum, concat,
# global_avg_pool, linear. `conv` and `linear` default `out` to C_out; `bn` defaults `affine`.

# ---- DARTS primitives (built exactly as the reference DARTS code builds them) ----------------

op none = zero(stride=stride)
op max_pool_3x3 = max_pool(k=3, stride=stride, pad=1)
op avg_pool_3x3 = avg_pool(k=3, stride=stride, pad=1)

op skip_connect {
  if stride == 1 { identity } else { factorized_reduce }
}

op sep_conv(k, pad) {
  relu
  conv(out=C_in, k=k, stride=stride, pad=pad, groups=C_in)
  conv(out=C_in, k=1)
  bn
  relu
  conv(out=C_in, k=k, pad=pad, groups=C_in)
  conv(k=1)
  bn
}

op sep_conv_3x3 = sep_conv(k=3, pad=1)
op sep_conv_5x5 = sep_conv(k=5, pad=2)
op sep_conv_7x7 = sep_conv(k=7, pad=3)

op dil_conv(k, pad, dilation=2) {
  relu
  conv(out=C_in, k=k, stride=stride, pad=pad, dilation=dilation, groups=C_in)
  conv(k=1)
  bn
}

op dil_conv_3x3 = dil_conv(k=3, pad=2)
op dil_conv_5x5 = dil_conv(k=5, pad=4)

op conv_7x1_1x7 {
  relu
  conv(k=(1, 7), stride=(1, stride), pad=(0, 3))
  conv(k=(7, 1), stride=(stride, 1), pad=(3, 0))
  bn
}

# ---- conv blocks ------------------------------------------------------------------------------

op relu_conv_bn(k=1, pad=0) {
  relu
  conv(k=k, stride=stride, pad=pad)
  bn
}

op conv_bn(k=3, pad=k // 2) {
  conv(k=k, stride=stride, pad=pad)
  bn
}

op conv_bn_relu(k=3, pad=k // 2) {
  conv(k=k, stride=stride, pad=pad)
  bn
  relu
}

op conv_bn_relu_1x1 = conv_bn_relu(k=1)
op conv_bn_relu_3x3 = conv_bn_relu(k=3)

# ---- cell preprocessing: the input from two cells back is halved after a reduction ----------

op preprocess {
  if stride == 1 { relu_conv_bn(k=1) } else { factorized_reduce }
}

# a residual shortcut: identity when shapes agree, else a strided 1x1 conv + bn
op shortcut {
  if stride == 1 and C_in == C_out { identity } else { conv_bn(k=1) }
}

# ---- stems ------------------------------------------------------------------------------------

op cifar_stem {
  conv(k=3, pad=1)
  bn
}

op imagenet_stem0 {
  conv(out=C_out // 2, k=3, stride=2, pad=1)
  bn
  relu
  conv(k=3, stride=2, pad=1)
  bn
}

op imagenet_stem1 {
  relu
  conv(k=3, stride=2, pad=1)
  bn
}

# ---- heads ------------------------------------------------------------------------------------

op classifier {
  global_avg_pool
  linear
}

# auxiliary tower of the DARTS CIFAR network (reads an 8x8 map)
op cifar_aux {
  relu
  avg_pool(k=5, stride=3)
  conv(out=128, k=1)
  bn
  relu
  conv(out=768, k=2)
  bn
  relu
  linear
}

# auxiliary tower of the DARTS ImageNet network (reads a 7x7 map; the reference omits the
# second batch norm, and so does this)
op imagenet_aux {
  relu
  avg_pool(k=5, stride=2)
  conv(out=128, k=1)
  bn
  relu
  conv(out=768, k=2)
  relu
  linear
}
