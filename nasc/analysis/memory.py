"""The memory planner: the peak memory of one training step of a network or a supernet, predicted
from the elaborated network's shapes without running it. Torch-free.

What one step (forward, backward, optimizer step) holds, as `nasc.lower` builds the module:

- weights, their gradients (allocated during the backward: `zero_grad(set_to_none=True)`) and
  the optimizer state (SGD momentum: one buffer per weight; Adam/AdamW: two), plus the optimizer
  step's own temporaries (torch's foreach implementations copy the gradients once for weight decay;
  Adam also makes one more temporary per weight);
- the activations autograd saves for the backward, per primitive, as torch 2.x saves them
  (measured with `torch.autograd.graph.saved_tensors_hooks`): `conv` and `linear` their input;
  `bn` its input (plus the batch mean and inverse std, `2 * C` floats, whatever the batch);
  `relu` its output; `max_pool` its input and the int64 indices; `avg_pool` its input;
  `global_avg_pool`, `identity`, `zero`, sums and concats nothing; `factorized_reduce` its
  rectified input and the concatenated convs. A tensor saved by several ops (a ReLU's output
  that a conv reads) is counted once. A choice edge follows `nasc.lower.mixed.MixedOp`: the
  leading ReLU shared by the conv candidates, `none` not computed, a ReLU after conv/BN/pool in
  place, the mixing weight folded into the last non-affine BN (else `h * w` saves `h`), the
  stride-2 dilation-2 depthwise conv saving its subsampled input (`nasc.lower.depthwise`);
- the loss (cross entropy saves the log-probabilities and the targets), the aux head (training
  only) and, for a supernet, the channels-last copy of the input batch (`DartsSupernet` on the
  CPU);
- the transient of the backward: while a cell's backward runs, the gradient buffers of its states
  (raw and preprocessed inputs, nodes, output) are alive together, plus the largest gradient pair
  (incoming and outgoing) of one primitive.

The peak is the largest of the schedule's positions: the end of the forward, the backward of each
part (stems, cells, head, aux) with the saved activations of that part and the parts before it
still held, the gradients of the parts after it already allocated and its transient; and the
optimizer step. With `checkpointing` (activation checkpointing per cell, `NascNet.checkpoint_cells`)
a cell keeps only its inputs; its activations are recomputed in its backward, one cell at a time.

Everything except the batch-norm statistics and the weights grows linearly in the batch, so each
position is `fixed + batch * per_image` and `fit_batch` solves for the largest batch under a budget.
Drop path is taken as off (as in a search); `amp` counts activations at 2 bytes per element and the
16-bit weight copies autocast keeps (an estimate: not measured on the CPU).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Any, Literal

from nasc.analysis.network import CellInst, Mixed, Network, Pipeline, PrimCall
from nasc.errors import ConfigError
from nasc.ops.registry import Shape, get_primitive

__all__ = ["OPTIMIZERS", "MemoryPart", "TrainMemory", "train_memory", "fit_batch"]

#: optimizer name -> (state buffers per weight, step temporaries per weight)
OPTIMIZERS: dict[str, tuple[int, int]] = {"sgd": (1, 1), "adam": (2, 2), "adamw": (2, 2), "none": (0, 0)}
Optimizer = Literal["sgd", "adam", "adamw", "none"]

FLOAT = 4  # weights, gradients, optimizer state and batch-norm statistics stay float32
INDEX = 8  # int64 (max-pool indices, class targets)


@dataclass(frozen=True)
class MemoryPart:
    """One part of the network in forward order (`stems`, `cells.3`, `head`, `aux`).

    `saved_per_image` / `saved_fixed`: bytes autograd keeps for this part's backward (a tensor
    saved by several parts is counted in the first); `transient_per_image`: the gradient buffers
    alive at once during its backward, on top of its saved activations; `params`: its trainable
    parameters; with checkpointing, `checkpoint_per_image` is what a checkpointed cell keeps
    instead (its input states) and `checkpoint_backward_per_image` the most its backward holds
    besides them (the recomputed activations and the gradient buffers)."""

    name: str
    params: int
    saved_per_image: int
    saved_fixed: int
    transient_per_image: int
    checkpoint_per_image: int | None = None
    checkpoint_backward_per_image: int | None = None


@dataclass(frozen=True)
class TrainMemory:
    """The predicted peak memory of one training step (bytes) and its parts."""

    batch: int
    optimizer: str
    amp: bool
    checkpointing: bool
    params: int
    weights: int
    gradients: int
    optimizer_state: int
    input_bytes: int  # the batch of images and targets
    activations: int  # saved for backward at the end of the forward (all parts)
    transient: int  # the transient at the peak position
    peak: int
    peak_at: str  # the schedule position of the peak ("backward of cells.0", "optimizer step", ...)
    per_image: int  # d(peak)/d(batch) at the peak position
    parts: tuple[MemoryPart, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """Plain ints and strings (for `--json`)."""
        return {k: getattr(self, k) for k in (
            "batch", "optimizer", "amp", "checkpointing", "params", "weights", "gradients",
            "optimizer_state", "input_bytes", "activations", "transient", "peak", "peak_at", "per_image")}


# --------------------------------------------------------------------------- the forward simulation

@dataclass
class _T:
    """A tensor of the simulated forward: per-image bytes (its shape times the element size)."""

    id: int
    nbytes: int


class _Sim:
    """Walks the network as the lowered module runs it, recording which tensors autograd saves."""

    def __init__(self, elt: int) -> None:
        self.elt = elt
        self._n = 0
        self.saved: dict[int, int] = {}  # tensor id -> per-image bytes, in the order first saved
        self.owner: dict[int, int] = {}  # tensor id -> index of the part that saved it first
        self.part = 0
        self.step = 0  # inside a cell: -1 preprocessing, k node k (the backward frees in reverse)
        self.owner_step: dict[int, int] = {}
        self.fixed: list[int] = []  # per part: batch-independent saved bytes
        self.grad_pair = 0  # largest (grad in + grad out) of one primitive in the current part
        self.buffers = 0  # batch-norm running statistics

    # tensors
    def new(self, shape: Shape, elt: int | None = None) -> _T:
        self._n += 1
        return _T(self._n, prod(shape) * (elt or self.elt))

    def save(self, t: _T) -> None:
        if t.id not in self.saved:
            self.saved[t.id] = t.nbytes
            self.owner[t.id] = self.part
            self.owner_step[t.id] = self.step

    def stats(self, channels: int, folded: bool = False) -> None:
        """Batch norm's saved batch mean and inverse std (float32, batch-independent; a folded
        BN also saves its per-channel weight, the expanded mixing weight) and its running
        statistics (buffers, held throughout)."""
        self.fixed[self.part] += (3 if folded else 2) * channels * FLOAT
        self.buffers += 2 * channels * FLOAT + INDEX

    def pair(self, a: Shape, b: Shape) -> None:
        self.grad_pair = max(self.grad_pair, (prod(a) + prod(b)) * self.elt)

    # one primitive as its `build()` module runs it
    def prim(self, c: PrimCall, x: _T) -> _T:
        op, out_shape = c.op, c.out_shape
        self.pair(c.in_shapes[0], out_shape)
        if op in ("identity", "stop_gradient"):
            return x
        if op in ("conv", "avg_pool", "linear"):
            self.save(x)
        elif op == "bn":
            self.save(x)
            self.stats(out_shape[0])
        elif op == "relu":
            out = self.new(out_shape)
            self.save(out)
            return out
        elif op == "max_pool":
            self.save(x)
            self.save(self.new(out_shape, INDEX))
        elif op == "factorized_reduce":
            return self._fr(c, self._relu(x, c.in_shapes[0]))
        elif op in ("global_avg_pool", "zero", "stop_forward", "sum", "concat"):
            pass
        elif not get_primitive(op).aliases_input:
            self.save(x)  # a plugin primitive: assume it saves its input, as most ops do
        else:
            return x
        return self.new(out_shape)

    def _relu(self, x: _T, shape: Shape) -> _T:
        out = self.new(shape)
        self.save(out)
        return out

    def _fr(self, c: PrimCall, rx: _T, fold: bool = False) -> _T:
        """FactorizedReduce on an already rectified input: both 1x1 convs save `rx` (the second
        a view of it), their concatenation is the batch norm's saved input."""
        self.save(rx)
        cat = self.new(c.out_shape)
        self.save(cat)
        self.stats(c.out_shape[0])
        return cat if fold else self.new(c.out_shape)

    def pipeline(self, p: Pipeline, x: _T) -> _T:
        for c in p.calls:
            x = self.prim(c, x)
        return x

    # a choice edge as `nasc.lower.mixed.MixedOp` runs it
    def mixed(self, m: Mixed, x: _T) -> _T:
        rx: _T | None = None
        out: _T | None = None
        for name, cand in zip(m.names, m.candidates):
            steps = _steps(cand, pool_bn="pool" in name)
            if steps is None:
                continue  # `none` is not computed
            h = x
            if steps and steps[0].kind in ("relu", "fr"):
                if rx is None:  # the leading ReLU, computed once for the edge
                    rx = self._relu(x, m.in_shape)
                h = rx
                if steps[0].kind == "relu":
                    steps = steps[1:]
                else:  # FR's convs on the shared ReLU, then its BN as a step of its own
                    fr = steps[0]
                    steps = [_Step("frconvs", fr.in_shape, fr.out_shape, fr.call),
                             _Step("bn", fr.out_shape, fr.out_shape, None, bool(fr.call and fr.call.params.affine)),
                             *steps[1:]]
            fold = bool(steps) and steps[-1].kind == "bn" and not steps[-1].affine
            body = steps[:-1] if fold else steps
            prev = ""
            for st in body:
                self.pair(st.in_shape, st.out_shape)
                if st.kind == "frconvs":
                    self.save(h)
                    h = self.new(st.out_shape)
                elif st.kind == "relu" and prev in ("conv", "bn", "max_pool", "avg_pool"):
                    self.save(h)  # in place: the saved result is the producer's output
                elif st.kind == "conv" and st.call is not None and _strided_dilated_dw(st.call):
                    self.save(self.new(st.call.out_shape))  # its subsampled input copy
                    h = self.new(st.out_shape)
                elif st.kind == "bn":
                    self.save(h)
                    self.stats(st.out_shape[0])
                    h = self.new(st.out_shape)
                else:
                    assert st.call is not None
                    h = self.prim(st.call, h)
                prev = st.kind
            self.save(h)  # the folded BN saves its input; `h * w` saves h
            if fold:
                self.stats(m.out_shape[0], folded=True)
            y = self.new(m.out_shape)
            out = y if out is None else out  # later candidates are added in place
        if out is None:
            return self.new(m.out_shape)  # every candidate is `none`
        return out


@dataclass(frozen=True)
class _Step:
    """One module of a mixed-op candidate (`nasc.lower.mixed._plan` works on modules)."""

    kind: str  # a primitive name, `fr` (a whole FactorizedReduce), `frconvs` (its convs and concat)
    in_shape: Shape
    out_shape: Shape
    call: PrimCall | None
    affine: bool = False


def _steps(cand: Pipeline, pool_bn: bool) -> list[_Step] | None:
    """The modules of a candidate as `MixedOp` sees them (identities dropped, DARTS' BN after a
    pool appended); None for a `none` candidate."""
    steps: list[_Step] = []
    for c in cand.calls:
        if c.op == "zero":
            return None
        if c.op == "identity":
            continue
        kind = "fr" if c.op == "factorized_reduce" else c.op
        steps.append(_Step(kind, c.in_shapes[0], c.out_shape, c, bool(getattr(c.params, "affine", False))))
    if pool_bn:
        steps.append(_Step("bn", cand.out_shape, cand.out_shape, None, False))
    return steps


def _strided_dilated_dw(c: PrimCall) -> bool:
    """A depthwise conv that `nasc.lower.depthwise` runs on `x[:, :, ::2, ::2]` (a saved copy)."""
    p = c.params
    cin = c.in_shapes[0][0]
    pad = p.pad if isinstance(p.pad, tuple) else (p.pad, p.pad)
    return (p.groups > 1 and p.groups == cin == p.out and not p.bias
            and _pair(p.stride) == (2, 2) and _pair(p.dilation) == (2, 2)
            and pad[0] % 2 == 0 and pad[1] % 2 == 0)


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


# --------------------------------------------------------------------------- parts and schedule

def _params(p: Pipeline | Mixed | None) -> int:
    if p is None:
        return 0
    if isinstance(p, Mixed):
        return sum(_params(c) for c in p.candidates)
    return sum(get_primitive(c.op).param_count(c.params, c.in_shapes) for c in p.calls)


def _cell_params(c: CellInst) -> int:
    n = sum(_params(i.op) for i in c.inputs)
    for node in c.nodes:
        n += sum(_params(e.op) for e in node.edges) + _params(node.proj)
    return n


def _parts(network: Network, elt: int, supernet: bool) -> tuple[list[MemoryPart], int, int]:
    """Simulate one training forward; returns the parts in forward order, the input bytes per
    image and the bytes of the batch-norm running statistics."""
    sim = _Sim(elt)
    names: list[str] = []
    params: list[int] = []
    transient: list[int] = []
    ck_backward: list[int | None] = []  # a checkpointed cell's backward: recomputed + gradients
    ckpt: list[int | None] = []

    def begin(name: str, n_params: int) -> None:
        sim.part = len(names)
        names.append(name)
        params.append(n_params)
        sim.fixed.append(0)
        sim.grad_pair = 0

    in_bytes = prod(network.input_shape) * FLOAT  # the batch itself, float32 as loaded
    x = _T(0, in_bytes)
    begin("stems", sum(_params(s) for s in network.stems))
    if supernet:
        x = sim.new(network.input_shape, FLOAT)  # DartsSupernet's channels-last copy
    # the mixing weights softmax(alpha), one matrix per cell template, saved by the softmax
    mixing: dict[str, int] = {}
    for cell in network.cells:
        mixing[cell.template] = sum(len(e.op.candidates) for n in cell.nodes for e in n.edges
                                    if isinstance(e.op, Mixed))
    sim.fixed[0] += sum(mixing.values()) * FLOAT
    states: list[_T] = []
    h = x
    for s in network.stems:
        h = sim.pipeline(s, h)
        states.append(h)
    transient.append(sum(prod(s.out_shape) for s in network.stems) * elt + sim.grad_pair)
    ckpt.append(None)
    ck_backward.append(None)

    state_ids: list[_T] = list(states)
    last_reader = [-1] * (len(network.stems) + len(network.cells))
    for cell in network.cells:
        for inp in cell.inputs:
            last_reader[inp.source] = max(last_reader[inp.source], cell.index)
    ck_seen: set[int] = set()
    for cell in network.cells:
        begin(f"cells.{cell.index}", _cell_params(cell))
        env: dict[str, _T] = {}
        raw = []
        sim.step = -1
        for inp in cell.inputs:
            t = state_ids[inp.source]
            raw.append(t)
            if inp.op is not None:
                t = sim.pipeline(inp.op, t)
            env[inp.name] = t
        for k, node in enumerate(cell.nodes):
            sim.step = k
            ys = []
            for e in node.edges:
                ys.append(sim.mixed(e.op, env[e.input]) if isinstance(e.op, Mixed)
                          else sim.pipeline(e.op, env[e.input]))
            if len(ys) == 1 and node.combine != "proj":
                out = ys[0]
            elif node.combine == "proj":
                assert node.proj is not None
                out = sim.pipeline(node.proj, sim.new(node.proj.in_shape))
            else:
                out = sim.new(node.out_shape)
            env[node.name] = out
        outs = [env[s] for s in cell.output]
        state_ids.append(outs[0] if len(outs) == 1 else sim.new(cell.out_shape))
        # the cell's backward frees its saved tensors step by step while gradient buffers come
        # and go: its peak is the largest sum of both over the steps, plus one primitive's pair
        mine = [(sim.owner_step[t], b) for t, b in sim.saved.items() if sim.owner[t] == sim.part]
        live = _grad_buffers(cell, last_reader, elt)
        steps = list(zip(range(-1, len(cell.nodes) + 1), live))
        top = max(sum(b for st, b in mine if st <= k) + g for k, g in steps)
        transient.append(top + sim.grad_pair - sum(b for _, b in mine))
        # checkpointed, the recomputation saves the same tensors except the cell's inputs, which
        # are the checkpoint's own arguments (held anyway)
        raw_ids = {t.id for t in raw}
        mine_ck = [(sim.owner_step[t], b) for t, b in sim.saved.items()
                   if sim.owner[t] == sim.part and t not in raw_ids]
        ck_backward.append(max(sum(b for st, b in mine_ck if st <= k) + g for k, g in steps) + sim.grad_pair)
        # a checkpointed cell keeps its input states (the checkpoint's arguments), each counted in
        # the first cell that keeps it, unless the stems already save it
        kept = {t.id: t.nbytes for t in raw if t.id not in ck_seen and sim.owner.get(t.id, 1) != 0}
        ck_seen.update(kept)
        ckpt.append(sum(kept.values()))
    begin("head", _params(network.head))
    sim.pipeline(network.head, state_ids[-1])
    sim.save(sim.new((network.classes,)))  # cross entropy: the log-probabilities
    sim.fixed[sim.part] += FLOAT  # and its total weight (a scalar)
    transient.append(prod(network.head.in_shape) * elt + sim.grad_pair)
    ckpt.append(None)
    ck_backward.append(None)
    if network.aux is not None and network.aux_after is not None:
        begin("aux", _params(network.aux))
        src = state_ids[len(network.stems) + network.aux_after]
        sim.pipeline(network.aux, src)
        sim.save(sim.new((network.classes,)))
        sim.fixed[sim.part] += FLOAT
        transient.append(prod(network.aux.in_shape) * elt + sim.grad_pair)
        ckpt.append(None)
        ck_backward.append(None)
    ck_backward.append(None)
    saved = [0] * len(names)
    for tid, nb in sim.saved.items():
        if tid != 0:  # the batch itself is held by the caller: counted as the input
            saved[sim.owner[tid]] += nb
    parts = [MemoryPart(n, p, s, f, t, c, cb) for n, p, s, f, t, c, cb in
             zip(names, params, saved, sim.fixed, transient, ckpt, ck_backward)]
    # targets: int64 per image, held with the images
    return parts, in_bytes + INDEX, sim.buffers



def _grad_buffers(cell: CellInst, last_reader: list[int], elt: int) -> list[int]:
    """Per image, the gradient bytes of this cell's states alive at each step of its backward
    (steps -1 .. K in order).

    The backward visits the cell's steps in reverse: the output combine (position K), node K-1 ..
    node 0, the input preprocessing (-1). A state's gradient buffer lives from its last consumer's
    step down to its own producer's step; the output's (a concat's slices are views of it) until
    the first output node is done; a raw input that a later cell also reads is alive throughout."""
    k_out = len(cell.nodes)
    pos = {n.name: k for k, n in enumerate(cell.nodes)}
    spans: list[tuple[int, int, int]] = []  # (dies at, born at, bytes)
    consumers: dict[str, list[int]] = {}
    for k, n in enumerate(cell.nodes):
        for e in n.edges:
            consumers.setdefault(e.input, []).append(k)
    for name in cell.output:
        consumers.setdefault(name, []).append(k_out)
    for inp in cell.inputs:
        size = prod(inp.in_shape) * elt
        born = k_out if last_reader[inp.source] > cell.index else max(consumers.get(inp.name, [-1]))
        if inp.op is not None:
            spans.append((-1, max(consumers.get(inp.name, [-1])), prod(inp.out_shape) * elt))
            born = k_out if last_reader[inp.source] > cell.index else -1
        spans.append((-1, born, size))
    for n in cell.nodes:
        spans.append((pos[n.name], max(consumers.get(n.name, [pos[n.name]])), prod(n.out_shape) * elt))
    if len(cell.output) > 1:
        spans.append((min(pos.get(o, -1) for o in cell.output), k_out, prod(cell.out_shape) * elt))
    return [sum(b for lo, hi, b in spans if lo <= k <= hi) for k in range(-1, k_out + 1)]

def _order(network: Network, parts: list[MemoryPart]) -> list[MemoryPart]:
    """Parts in the order their backward runs last-to-first: the aux head sits after its cell."""
    if parts[-1].name != "aux" or network.aux_after is None:
        return parts
    aux = parts[-1]
    body = parts[:-1]
    at = next(i for i, p in enumerate(body) if p.name == f"cells.{network.aux_after}") + 1
    return body[:at] + [aux] + body[at:]


@dataclass(frozen=True)
class _Position:
    """One schedule position: `fixed + batch * per_image` bytes."""

    name: str
    fixed: int
    per_image: int
    activations: int  # per image, saved activations held
    transient: int  # per image

    def at(self, batch: int) -> int:
        return self.fixed + batch * self.per_image


def _positions(network: Network, *, optimizer: str, amp: bool, checkpointing: bool,
               supernet: bool) -> tuple[list[_Position], list[MemoryPart], int, int]:
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer `{optimizer}` for the memory planner", key="--optimizer",
                          hint=f"use one of: {', '.join(OPTIMIZERS)}")
    elt = 2 if amp else FLOAT
    parts, input_bytes, buffers = _parts(network, elt, supernet)
    parts = _order(network, parts)
    n_params = sum(p.params for p in parts)
    weights = n_params * FLOAT + (n_params * 2 if amp else 0)  # + autocast's 16-bit weight copies
    state_n, step_tmp = OPTIMIZERS[optimizer]
    base = weights + buffers + state_n * n_params * FLOAT

    def held(p: MemoryPart) -> int:  # per image, what this part keeps through the forward
        if checkpointing and p.checkpoint_per_image is not None:
            return p.checkpoint_per_image
        return p.saved_per_image

    fixed_saved = [0 if (checkpointing and p.checkpoint_per_image is not None) else p.saved_fixed for p in parts]
    total_held = sum(held(p) for p in parts)
    pos = [_Position("end of forward", base + sum(fixed_saved), input_bytes + total_held, total_held, 0)]
    grads_after = 0  # gradients of the parts whose backward already ran
    for j in range(len(parts) - 1, -1, -1):
        p = parts[j]
        grads_after += p.params * FLOAT
        before = sum(held(q) for q in parts[:j])
        fixed_before = sum(fixed_saved[:j])
        if checkpointing and p.checkpoint_per_image is not None and p.checkpoint_backward_per_image is not None:
            own = p.checkpoint_per_image + p.saved_per_image  # its inputs, recomputed activations
            top = p.checkpoint_per_image + p.checkpoint_backward_per_image
        else:
            own = p.saved_per_image
            top = own + p.transient_per_image
        pos.append(_Position(f"backward of {p.name}", base + grads_after + fixed_before + p.saved_fixed,
                             input_bytes + before + top, before + own, top - own))
    pos.append(_Position("optimizer step", base + n_params * FLOAT * (1 + step_tmp), input_bytes, 0, 0))
    return pos, parts, n_params, input_bytes


def _is_supernet(network: Network) -> bool:
    return any(isinstance(e.op, Mixed) for c in network.cells for n in c.nodes for e in n.edges)


def train_memory(network: Network, *, batch: int, optimizer: str = "sgd", amp: bool = False,
                 checkpointing: bool = False, supernet: bool | None = None) -> TrainMemory:
    """The predicted peak memory of one training step of `network` at `batch` images.

    `optimizer`: `sgd` (momentum), `adam`, `adamw` or `none`; `amp`: 16-bit activations;
    `checkpointing`: activation checkpointing per cell; `supernet` (default: whether the network
    has choice edges): add the channels-last input copy `DartsSupernet` makes on the CPU."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"the batch size must be a positive integer, got {batch!r}", key="--batch",
                          hint="e.g. --batch 64")
    sup = _is_supernet(network) if supernet is None else supernet
    pos, parts, n_params, input_bytes = _positions(network, optimizer=optimizer, amp=amp,
                                                   checkpointing=checkpointing, supernet=sup)
    peak = max(pos, key=lambda p: p.at(batch))
    saved_fixed = sum(0 if (checkpointing and p.checkpoint_per_image is not None) else p.saved_fixed
                      for p in parts)
    state_n = OPTIMIZERS[optimizer][0]
    return TrainMemory(
        batch=batch, optimizer=optimizer, amp=amp, checkpointing=checkpointing, params=n_params,
        weights=n_params * FLOAT, gradients=n_params * FLOAT, optimizer_state=state_n * n_params * FLOAT,
        input_bytes=input_bytes * batch, activations=pos[0].activations * batch + saved_fixed,
        transient=peak.transient * batch, peak=peak.at(batch), peak_at=peak.name, per_image=peak.per_image,
        parts=tuple(parts))


def fit_batch(network: Network, budget: int, *, optimizer: str = "sgd", amp: bool = False,
              checkpointing: bool = False, supernet: bool | None = None) -> int:
    """The largest batch whose predicted peak fits in `budget` bytes (0 when not even one image
    does). Each schedule position is linear in the batch: solve each, take the smallest, then
    check the answer against `train_memory` itself."""
    sup = _is_supernet(network) if supernet is None else supernet
    pos, _, _, _ = _positions(network, optimizer=optimizer, amp=amp, checkpointing=checkpointing, supernet=sup)
    best: int | None = None
    for p in pos:
        if p.fixed > budget:
            return 0
        if p.per_image > 0:
            b = (budget - p.fixed) // p.per_image
            best = b if best is None else min(best, b)
    if best is None:  # nothing grows with the batch (impossible for a real network)
        raise ConfigError("the memory figure does not depend on the batch size", key="--fit-memory")
    best = max(0, best)
    # the check: the solved batch fits, one more does not
    assert best == 0 or max(p.at(best) for p in pos) <= budget
    assert max(p.at(best + 1) for p in pos) > budget
    return best
