"""The DARTS bilevel optimizer ("architect"): the architecture gradient and the alpha update.

    arch = Architect(model, alpha_optimizer, w_momentum=0.9, w_weight_decay=3e-4, order="second")
    arch.step(x_train, y_train, x_val, y_val, w_optimizer, lr)   # before each weight step

First order: `dalpha = dL_val(w, alpha) / dalpha`.

Second order (the unrolled step of DARTS and pt.darts): a virtual SGD step of the weights,
`w' = w - xi * (momentum * buf + dL_train(w)/dw + wd * w)` with `xi` the current weight lr and
`buf` the weight optimizer's momentum buffer; then
`dalpha = dL_val(w', alpha)/dalpha - xi * H dw'` where `dw' = dL_val(w', alpha)/dw'` and the mixed
second derivative `H dw' = d^2 L_train / dalpha dw . dw'` is taken by central finite differences,
`(dL_train(w + eps dw')/dalpha - dL_train(w - eps dw')/dalpha) / (2 eps)`, `eps = 0.01 / ||dw'||`
(the 0.01 is DARTS' `r`, `fd_scale` here). The loss is piecewise smooth (ReLU, max pool): a
perturbation that crosses a kink makes the difference quotient differ from the derivative at `w`,
which is DARTS' approximation, kept as is.

Implementation: no copy of the model. The virtual weights and the perturbed weights are plain
tensors fed through `torch.func.functional_call`; gradients are asked only for what is needed
(`autograd.grad(inputs=...)`): weights only for the virtual step, alphas only for the two
finite-difference passes, which skips every weight-gradient kernel there. Batch-norm running
statistics follow pt.darts: the virtual network keeps its own statistics (a scratch copy per step,
which nothing reads), the passes on the real network update its statistics.

Data-parallel (`dist`, several torchrun processes, each with its shard of the training and held-out
batches): every gradient the one-process step takes of a batch mean is averaged over the ranks
(equal shards: the mean of the shard means is the batch mean), so every rank computes the same
alpha gradient and the alpha optimizer steps identically everywhere. First order: the alpha
gradient. Second order: the virtual step's weight gradient (so `w'` agrees), `dw'` (so `eps` and
the perturbed weights agree) and the final `dalpha - xi * H dw'` (linear in the per-rank terms
once `eps` agrees, so one reduction covers both). One flat all-reduce per reduction.

Mixed precision (`precision`, the trainer's autocast): the losses of the first-order step, the
virtual step and the validation loss at `w'` run under autocast (bf16 on the CPU, bf16 or fp16 on
a GPU); with fp16 their gradients are taken of the loss times the trainer's grad-scaler scale and
divided back, and an architecture step whose gradient is not finite is skipped (`skipped_steps`).
The two finite-difference passes run in fp32 with autocast off: the perturbation `eps * dw'` has
norm 0.01 spread over every weight, far below bf16's resolution (8 significant bits) of the
weights it is added to, so in bf16 `w + eps dw'` and `w - eps dw'` would mostly round to the same
numbers and the difference quotient would be rounding noise divided by `2 eps`. `eps`, the
perturbed weights and the quotient are computed in fp32 as well.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call

from nasc.search.darts_supernet import DartsSupernet
from nasc.train.distributed import DistContext
from nasc.train.precision import Precision

Loss = Callable[[Tensor, Tensor], Tensor]
Order = Literal["first", "second"]


def _logits(out: Tensor | tuple[Tensor, ...]) -> Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


class Architect:
    """Computes architecture gradients and steps the alpha optimizer (see the module docstring)."""

    def __init__(self, model: DartsSupernet, alpha_optimizer: torch.optim.Optimizer | None, *,
                 w_momentum: float, w_weight_decay: float, order: Order = "second",
                 criterion: Loss | None = None, fd_scale: float = 0.01,
                 dist: DistContext | None = None, precision: Precision | None = None) -> None:
        if order not in ("first", "second"):
            raise ValueError(f"order must be 'first' or 'second', got {order!r}")
        self.model = model
        self.optimizer = alpha_optimizer
        self.w_momentum = float(w_momentum)
        self.w_weight_decay = float(w_weight_decay)
        self.order: Order = order
        self.criterion: Loss = criterion or F.cross_entropy
        self.fd_scale = float(fd_scale)  # DARTS' r: eps = r / ||dw'||
        named = model.named_network_weights()
        self._w_names = [n for n, _ in named]
        self._weights = [p for _, p in named]
        self._alphas = model.alphas()
        self._a_names = ["arch." + t for t in model.templates]
        # the trainer's process group and autocast (a search's callback binds them at fit start)
        self.dist = dist or DistContext()
        self.precision = precision
        self.skipped_steps = 0  # fp16 steps whose gradient overflowed
        # an extra term of the architecture loss that depends on the alphas only (the cost
        # budget of `nasc.search.cost_objective`), set by `nasc.search.guards`
        self.penalty: Callable[[], Tensor] | None = None

    # ---------------------------------------------------------------- public

    def step(self, x_train: Tensor, y_train: Tensor, x_val: Tensor, y_val: Tensor,
             w_optimizer: torch.optim.Optimizer, lr: float) -> None:
        """One architecture update: set `alpha.grad` to the DARTS gradient, step the optimizer."""
        assert self.optimizer is not None, "Architect.step needs an alpha optimizer"
        grads = self.gradient(x_train, y_train, x_val, y_val, w_optimizer, lr)
        if self.penalty is not None:  # independent of w: its gradient adds in either order
            grads = [g + p for g, p in zip(grads, _grad(self.penalty(), self._alphas))]
        if self._scale() is not None and not all(bool(torch.isfinite(g).all()) for g in grads):
            self.skipped_steps += 1  # fp16 overflow (the same on every rank: grads are reduced)
            return
        for a, g in zip(self._alphas, grads):
            a.grad = g
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def gradient(self, x_train: Tensor, y_train: Tensor, x_val: Tensor, y_val: Tensor,
                 w_optimizer: torch.optim.Optimizer | None, lr: float) -> list[Tensor]:
        """The architecture gradient (one tensor per alpha matrix, `model.alphas()` order)."""
        if self.order == "first":
            with self._autocast():
                loss = self.criterion(_logits(self.model(x_val)), y_val)
            return self._mean(self._grad(loss, self._alphas))
        return self._unrolled(x_train, y_train, x_val, y_val, w_optimizer, float(lr))

    # ---------------------------------------------------------------- second order

    def virtual_weights(self, x_train: Tensor, y_train: Tensor,
                        w_optimizer: torch.optim.Optimizer | None, xi: float) -> list[Tensor]:
        """`w - xi * (momentum * buf + dL_train/dw + wd * w)`: one SGD step, not applied."""
        with self._autocast():
            loss = self.criterion(_logits(self.model(x_train)), y_train)
        grads = self._mean(self._grad(loss, self._weights))
        out = []
        with torch.no_grad():
            for w, g in zip(self._weights, grads):
                d = g + self.w_weight_decay * w
                buf = _momentum_buffer(w_optimizer, w)
                if buf is not None and self.w_momentum:
                    d = d + self.w_momentum * buf
                out.append(w - xi * d)
        return out

    def _unrolled(self, x_train: Tensor, y_train: Tensor, x_val: Tensor, y_val: Tensor,
                  w_optimizer: torch.optim.Optimizer | None, xi: float) -> list[Tensor]:
        w_virtual = [t.requires_grad_() for t in self.virtual_weights(x_train, y_train, w_optimizer, xi)]
        # the virtual network's batch norms keep their own running statistics (pt.darts' v_net)
        scratch = {n: b.clone() for n, b in self.model.named_buffers()}
        with self._autocast():
            loss = self.criterion(_logits(self._call(w_virtual, None, x_val, scratch)), y_val)
        grads = self._grad(loss, [*self._alphas, *w_virtual])
        n_a = len(self._alphas)
        dalpha, dw = list(grads[:n_a]), self._mean(list(grads[n_a:]))
        del grads, w_virtual, loss
        hessian = self.hessian_vector(dw, x_train, y_train)
        return self._mean([da - xi * h for da, h in zip(dalpha, hessian)])

    def hessian_vector(self, dw: Sequence[Tensor], x: Tensor, y: Tensor) -> list[Tensor]:
        """`d^2 L(w, alpha) / dalpha dw . dw` by central differences with `eps = r / ||dw||`
        (`r = fd_scale`, 0.01 in DARTS)."""
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(d) for d in dw]))
        eps = self.fd_scale / norm
        with torch.no_grad():
            w_pos = [w + eps * d for w, d in zip(self._weights, dw)]
        g_pos = self._alpha_grad(w_pos, x, y)
        del w_pos
        with torch.no_grad():
            w_neg = [w - eps * d for w, d in zip(self._weights, dw)]
        g_neg = self._alpha_grad(w_neg, x, y)
        return [(p - n) / (2.0 * eps) for p, n in zip(g_pos, g_neg)]

    def _alpha_grad(self, weights: Sequence[Tensor], x: Tensor, y: Tensor) -> list[Tensor]:
        # fp32 even under mixed precision: see the module docstring (finite differences in bf16)
        with self._full_precision():
            loss = self.criterion(_logits(self._call(weights, None, x, None)), y)
        return _grad(loss, self._alphas)

    def _call(self, weights: Sequence[Tensor], alphas: Sequence[Tensor] | None, x: Tensor,
              buffers: dict[str, Tensor] | None) -> Tensor | tuple[Tensor, ...]:
        """The model's forward with `weights` (and `alphas`, `buffers`) in place of its own."""
        params: dict[str, Tensor] = dict(zip(self._w_names, weights))
        if alphas is not None:
            params.update(zip(self._a_names, alphas))
        if buffers is not None:
            params.update(buffers)
        return functional_call(self.model, params, (x,), tie_weights=False)


    # ---------------------------------------------------------------- processes and precision

    def _mean(self, tensors: list[Tensor]) -> list[Tensor]:
        """The mean of `tensors` over the ranks of a data-parallel search (as they are in one
        process): one all-reduce of the flattened tensors."""
        if not self.dist.enabled or not tensors:
            return tensors
        flat = torch.cat([t.reshape(-1) for t in tensors])
        self.dist.all_reduce_sum(flat)
        flat /= self.dist.world_size
        return [part.view_as(t) for part, t in zip(flat.split([t.numel() for t in tensors]), tensors)]

    def _autocast(self) -> contextlib.AbstractContextManager[None]:
        """The trainer's autocast (nothing in full precision)."""
        return self.precision.autocast() if self.precision is not None else contextlib.nullcontext()

    @contextlib.contextmanager
    def _full_precision(self) -> Iterator[None]:
        """Autocast off, whatever encloses the call."""
        if self.precision is None or self.precision.dtype is None:
            yield
        else:
            with torch.autocast(device_type=self.precision.device_type, enabled=False):
                yield

    def _scale(self) -> float | None:
        """The loss scale of fp16 gradients (the trainer's grad scaler), None without one."""
        scaler = self.precision.scaler if self.precision is not None else None
        return float(scaler.get_scale()) if scaler is not None and scaler.is_enabled() else None

    def _grad(self, loss: Tensor, inputs: Sequence[Tensor]) -> list[Tensor]:
        """`_grad` of a loss computed under autocast: scaled and unscaled around the backward
        pass with fp16, so that small activation gradients do not flush to zero."""
        scale = self._scale()
        if scale is None:
            return _grad(loss, inputs)
        return [g / scale for g in _grad(loss * scale, inputs)]


def _grad(loss: Tensor, inputs: Sequence[Tensor]) -> list[Tensor]:
    """d loss / d inputs, zeros for inputs the loss does not use (e.g. a template with no cell)."""
    return list(torch.autograd.grad(loss, list(inputs), allow_unused=True, materialize_grads=True))


def _momentum_buffer(optimizer: torch.optim.Optimizer | None, w: Tensor) -> Tensor | None:
    if optimizer is None:
        return None
    return optimizer.state.get(w, {}).get("momentum_buffer")
