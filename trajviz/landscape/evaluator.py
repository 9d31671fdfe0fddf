"""Loss and accuracy of a net at many points ``centre + a * d1 + b * d2`` at once.

Three exact ways, chosen by `PlaneEvaluator`:

``affine``
    The model is an ``nn.Sequential`` whose first layer with parameters is a ``Linear`` or
    ``Conv`` layer (after parameter-free ones such as ``Flatten``). That layer's output is
    linear in its weights, so for every point ``W(a, b) x = W x + a D1 x + b D2 x``: its
    three products are computed once per data block instead of once per point. The rest of
    the net runs batched over points: hand-written batched matrix products for a chain of
    ``Linear`` / ``ReLU`` layers, ``torch.func.vmap`` for anything else.
``vmap``
    Any model: ``torch.func.functional_call`` under ``vmap`` over a chunk of points.
``loop``
    The plain reference: write each point's weights into the model, one forward pass.

Points are processed in chunks sized to a memory budget, data in blocks, sums in float64.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap
from torch.nn import functional as F
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils import vector_to_parameters

from ..errors import UsageError
from ..resolve import resolve_device
from .directions import Plane

log = logging.getLogger(__name__)
LossFn = Callable[[Tensor, Tensor], Tensor]
Method = Literal["auto", "affine", "vmap", "loop"]
METHODS = ("auto", "affine", "vmap", "loop")
HEADS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
DEFAULT_MEMORY_MB = 64
CHAIN_BLOCK = 512  # samples per block on the fast path: hidden activations stay in cache
CACHE_BYTES = 8 * 2**20  # target working set of one batched step on the fast path


class PlaneEvaluator:
    """Evaluates ``loss_fn`` (mean over the data) and accuracy on a plane of weights.

    Args:
        model: the net; its weights are not changed. A model in ``eval()`` mode is
            evaluated in eval mode, one in training mode in training mode, except that
            BatchNorm layers always use their running statistics (kept fixed).
        plane: centre and directions (flat, ``parameters_to_vector`` order).
        x, y: the data the loss is averaged over.
        loss_fn: ``loss_fn(output, y)`` returning the batch mean (cross-entropy default).
        method: ``auto`` (``affine`` where it applies, else ``vmap``), or one of them.
        device: ``auto`` uses CUDA when present.
        memory_mb: working-memory budget for one chunk of points times one data block.

    Example:
        >>> ev = PlaneEvaluator(model, plane, x, y)  # doctest: +SKIP
        >>> loss, acc = ev.evaluate(torch.tensor([[0.0, 0.0], [0.5, -0.5]]))  # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, plane: Plane, x: Tensor, y: Tensor, *,
                 loss_fn: LossFn = F.cross_entropy, method: Method = "auto",
                 device: str | torch.device = "auto",
                 memory_mb: float = DEFAULT_MEMORY_MB) -> None:
        if method not in METHODS:
            raise UsageError(f"unknown grid method {method!r}; valid: {', '.join(METHODS)}")
        if memory_mb <= 0:
            raise UsageError(f"memory budget must be positive, got {memory_mb} MB")
        self.device = resolve_device(device)
        self.model = copy.deepcopy(model).to(self.device)
        for p in self.model.parameters():
            p.requires_grad_(False)
        for m in self.model.modules():
            if isinstance(m, _BatchNorm):  # running statistics, fixed over the plane
                m.eval()
            if m.training and isinstance(m, nn.modules.dropout._DropoutNd):
                raise UsageError(f"the model is in training mode with {type(m).__name__}, "
                                 "which makes the loss random: call model.eval() first")
        n_params = sum(p.numel() for p in self.model.parameters())
        for name, v in (("centre", plane.centre), ("d1", plane.d1), ("d2", plane.d2)):
            if v.numel() != n_params:
                raise UsageError(f"plane {name} has {v.numel()} values, the model "
                                 f"{n_params} parameters")
        if len(x) != len(y) or len(x) == 0:
            raise UsageError(f"need as many targets as inputs (and at least one): "
                             f"{len(x)} inputs, {len(y)} targets")
        dt = next(self.model.parameters()).dtype
        self.plane = plane
        self.vectors = torch.stack([plane.centre, plane.d1, plane.d2]).to(self.device, dt)
        self.x, self.y = x.to(self.device), y.to(self.device)
        self.loss_fn = loss_fn
        self.budget = int(memory_mb * 2**20)
        self.cache_budget = 8 * self.budget
        self._cache: dict[tuple[int, int], Tensor] = {}
        self._cached_bytes = 0
        self.names = [n for n, _ in self.model.named_parameters()]
        self.shapes = [p.shape for p in self.model.parameters()]
        self.buffers = dict(self.model.named_buffers())
        self.classify = y.dtype in (torch.int64, torch.int32, torch.uint8)
        self._split = _split_head(self.model) if method in ("auto", "affine") else None
        if method == "affine" and self._split is None:
            raise UsageError("the affine method needs an nn.Sequential whose first layer with "
                             "parameters is Linear or Conv (after parameter-free layers)")
        self._fast = self._split is not None and self._split.chain is not None
        # auto: the affine split pays off on the CPU only with the batched-matmul tail
        self.method = method if method != "auto" else ("affine" if self._fast else "vmap")
        self._fast = self._fast and self.method == "affine"
        if self.method == "affine":
            s = self._split
            self.sample_bytes = _activation_bytes(nn.Sequential(s.head, *s.tail),
                                                  s.prefix(self.x[:1]), count_input=False)
        else:
            self.sample_bytes = _activation_bytes(self.model, self.x[:1])
        n_blocks = -(-len(self.x) // CHAIN_BLOCK)
        self._block = -(-len(self.x) // n_blocks)  # equal blocks where the size divides
        self._sub = max(1, CACHE_BYTES // (self._block * self.sample_bytes))
        log.debug("plane evaluator: %s on %s, %d bytes of activations per sample and point",
                  self.method, self.device, self.sample_bytes)

    # -- sizes -----------------------------------------------------------------------------
    def chunk_sizes(self) -> tuple[int, int]:
        """(points per chunk, samples per data block) that fit the memory budget."""
        if self._fast:
            return max(self._sub, self.budget // (self._block * self.sample_bytes)), self._block
        block = max(1, min(len(self.x), self.budget // (4 * self.sample_bytes)))
        points = max(1, self.budget // (block * self.sample_bytes))
        return points, block

    def weights(self, coeffs: Tensor, start: int = 0) -> Tensor:
        """``(p, n_params - start)`` weights (from parameter ``start`` on) at ``coeffs``."""
        v = self.vectors[:, start:]
        c = coeffs.to(v)
        return v[0] + c[:, :1] * v[1] + c[:, 1:] * v[2]

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(self, points: Tensor | np.ndarray, *, chunk: int | None = None,
                 on_chunk: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean loss and accuracy (NaN unless the targets are class labels) at ``points``.

        Args:
            points: ``(p, 2)`` plane coordinates ``(alpha, beta)``.
            chunk: points per chunk (default: from the memory budget).
            on_chunk: called with the number of points after each chunk (progress bars).
        """
        pts = torch.as_tensor(np.asarray(points), dtype=torch.float64).reshape(-1, 2)
        step, block = self.chunk_sizes()
        step = chunk or step
        loss = np.empty(len(pts))
        acc = np.empty(len(pts))
        fn = {"affine": self._affine, "vmap": self._vmap, "loop": self._loop}[self.method]
        with torch.no_grad():
            for i in range(0, len(pts), step):
                coeffs = pts[i:i + step]
                if self._fast:
                    total, correct = self._fast_sums(coeffs)
                else:
                    total = torch.zeros(len(coeffs), dtype=torch.float64, device=self.device)
                    correct = torch.zeros_like(total)
                    for j in range(0, len(self.x), block):
                        s, c = fn(coeffs, j, j + block)
                        total += s
                        correct += c
                loss[i:i + len(coeffs)] = (total / len(self.x)).cpu().numpy()
                acc[i:i + len(coeffs)] = (correct / len(self.x)).cpu().numpy()
                if on_chunk is not None:
                    on_chunk(len(coeffs))
        if not self.classify:
            acc[:] = np.nan
        return loss, acc

    def _sums(self, out: Tensor, y: Tensor, *, classes: int = -1) -> tuple[Tensor, Tensor]:
        """Per point ``(sum of losses, number correct)`` from outputs ``(p, b, ...)``, the
        class scores along dimension ``classes``."""
        p, b = len(out), len(y)
        if self.loss_fn is F.cross_entropy and out.ndim == 3:
            index = y.view((1, 1, b) if classes == 1 else (1, b, 1))
            return _cross_entropy_sums(out, index, classes, self.classify)
        if classes != -1:
            out = out.movedim(classes, -1)
        sums = vmap(self.loss_fn, in_dims=(0, None))(out, y).double() * b
        if self.classify and out.ndim == 3:
            correct = (out.argmax(-1) == y).double().sum(1)
        else:
            correct = torch.zeros(p, dtype=torch.float64, device=out.device)
        return sums, correct

    def _params(self, flat: Tensor, names: list[str], shapes: list[torch.Size]
                ) -> dict[str, Tensor]:
        out, offset = {}, 0
        for name, shape in zip(names, shapes, strict=True):
            n = shape.numel()
            out[name] = flat[:, offset:offset + n].reshape(len(flat), *shape)
            offset += n
        return out

    def _vmap(self, coeffs: Tensor, j0: int, j1: int) -> tuple[Tensor, Tensor]:
        x, y = self.x[j0:j1], self.y[j0:j1]
        params = self._params(self.weights(coeffs), self.names, self.shapes)

        def f(p: dict[str, Tensor]) -> Tensor:
            return functional_call(self.model, {**p, **self.buffers}, (x,))

        return self._sums(vmap(f)(params), y)

    def _loop(self, coeffs: Tensor, j0: int, j1: int) -> tuple[Tensor, Tensor]:
        x, y = self.x[j0:j1], self.y[j0:j1]
        outs = []
        for w in self.weights(coeffs):
            vector_to_parameters(w, self.model.parameters())
            outs.append(self.model(x))
        return self._sums(torch.stack(outs), y)

    def _heads(self, j0: int, j1: int) -> Tensor:
        """``[W* x + b*, D1 x + d1b, D2 x + d2b]`` of the first layer for samples ``j0:j1``,
        stacked ``(3, ...)`` (each transposed to ``(features, samples)`` on the fast path),
        cached per data block while the cache fits its budget, else recomputed."""
        key = (j0, j1)
        if key in self._cache:
            return self._cache[key]
        split = self._split
        h = split.prefix(self.x[j0:j1])
        heads = torch.stack([split.apply_head(h, v)
                             for v in self.vectors[:, :split.head_numel]])
        if self._fast:
            heads = heads.transpose(1, 2).contiguous().view(3, -1)
        size = heads.numel() * heads.element_size()
        if self._cached_bytes + size <= self.cache_budget:
            self._cache[key] = heads
            self._cached_bytes += size
        return heads

    def _fast_sums(self, coeffs: Tensor) -> tuple[Tensor, Tensor]:
        """The affine fast path over all the data: a Linear head and a Linear / ReLU tail,
        laid out ``(points, features, samples)``. Hidden activations are made and used one
        cache-sized block at a time; the outputs of all full blocks land in one buffer, so
        the loss is reduced in a few large operations."""
        split, n = self._split, len(self.x)
        c = coeffs.to(device=self.device, dtype=self.vectors.dtype)
        coef = torch.cat([torch.ones_like(c[:, :1]), c], 1)
        tail_w = self.weights(coeffs, split.head_numel)
        width = split.head.out_features
        linears = [step for step in split.chain if step[0] == "linear"]
        classes = linears[-1][1] if linears else width
        blocks = [(j, min(j + self._block, n)) for j in range(0, n, self._block)]
        full = [b for b in blocks if b[1] - b[0] == self._block]
        y_full = self.y[:len(full) * self._block].view(len(full), 1, 1, self._block)
        sums, correct = [], []
        for k in range(0, len(c), self._sub):
            cf, tw = coef[k:k + self._sub], tail_w[k:k + self._sub]
            out = torch.empty(len(full), len(cf), classes, self._block, dtype=c.dtype,
                              device=self.device)
            s = torch.zeros(len(cf), dtype=torch.float64, device=self.device)
            m = torch.zeros_like(s)
            for b, (j0, j1) in enumerate(blocks):
                z = _combine(self._heads(j0, j1), cf).view(len(cf), width, j1 - j0)
                if b < len(full):
                    _run_chain(split.chain, z, tw, out=out[b])
                else:
                    s1, m1 = self._sums(_run_chain(split.chain, z, tw), self.y[j0:j1],
                                        classes=1)
                    s, m = s + s1, m + m1
            if full:
                s1, m1 = _cross_entropy_sums(out, y_full, 2, self.classify, point_dim=1)
                s, m = s + s1, m + m1
            sums.append(s)
            correct.append(m)
        return torch.cat(sums), torch.cat(correct)

    def _affine(self, coeffs: Tensor, j0: int, j1: int) -> tuple[Tensor, Tensor]:
        split, y = self._split, self.y[j0:j1]
        heads = self._heads(j0, j1)
        c = coeffs.to(device=self.device, dtype=heads.dtype)
        tail_w = self.weights(coeffs, split.head_numel)
        shape = (len(c),) + (1,) * (heads.ndim - 1)
        z = heads[0] + c[:, 0].view(shape) * heads[1] + c[:, 1].view(shape) * heads[2]
        params = self._params(tail_w, split.tail_names, split.tail_shapes)
        buffers = {k[len(split.tail_prefix):]: v for k, v in self.buffers.items()
                   if k.startswith(split.tail_prefix)}
        out = vmap(lambda p, zi: functional_call(split.tail, {**p, **buffers}, (zi,)))(
            params, z)
        return self._sums(out, y)


class _Split:
    """An ``nn.Sequential`` cut at its first layer with parameters (see `_split_head`)."""

    def __init__(self, model: nn.Sequential, index: int) -> None:
        self.prefix = nn.Sequential(*list(model)[:index])
        self.head = model[index]
        self.tail = nn.Sequential(*list(model)[index + 1:])
        head_params = list(self.head.parameters())
        self.head_shapes = [p.shape for p in head_params]
        self.head_numel = sum(p.numel() for p in head_params)
        self.has_bias = getattr(self.head, "bias", None) is not None
        self.tail_prefix = f"{index + 1}."
        self.tail_names = [n for n, _ in self.tail.named_parameters()]
        self.tail_shapes = [p.shape for p in self.tail.parameters()]
        self.chain = _chain(self.tail) if isinstance(self.head, nn.Linear) else None

    def apply_head(self, x: Tensor, flat: Tensor) -> Tensor:
        weight = flat[:self.head_shapes[0].numel()].view(self.head_shapes[0])
        bias = flat[self.head_shapes[0].numel():] if self.has_bias else None
        if isinstance(self.head, nn.Linear):
            return F.linear(x, weight, bias)
        return self.head._conv_forward(x, weight, bias)


def _split_head(model: nn.Module) -> _Split | None:
    if not isinstance(model, nn.Sequential):
        return None
    for i, m in enumerate(model):
        if any(True for _ in m.parameters()):
            if not isinstance(m, HEADS) or any(True for _ in model[i].buffers()):
                return None
            if isinstance(m, nn.Conv2d | nn.Conv1d | nn.Conv3d) and m.padding_mode != "zeros":
                return None
            return _Split(model, i)
        if any(True for _ in m.buffers()):
            return None
    return None


def _chain(tail: nn.Sequential) -> list[tuple[str, int]] | None:
    """The tail as ``[("linear", n_weight), ("relu", 0), ...]`` if it is only Linear (with
    bias) and ReLU layers, which `_run_chain` evaluates with batched matrix products."""
    steps = []
    for m in tail:
        if isinstance(m, nn.Linear) and m.bias is not None:
            steps.append(("linear", m.out_features, m.in_features))
        elif isinstance(m, nn.ReLU):
            steps.append(("relu", 0, 0))
        else:
            return None
    return steps


def _combine(heads: Tensor, coef: Tensor) -> Tensor:
    """``heads[0] + a * heads[1] + b * heads[2]`` for each row ``(1, a, b)`` of ``coef``,
    element by element, so each point's values do not depend on the batch it is in."""
    z = torch.addcmul(heads[0], coef[:, 1:2], heads[1])
    return z.addcmul_(coef[:, 2:3], heads[2])


def _cross_entropy_sums(out: Tensor, index: Tensor, dim: int, classify: bool, *,
                        point_dim: int = 0) -> tuple[Tensor, Tensor]:
    """Per point (sum of cross-entropies, number correct) of scores ``out`` whose classes
    lie along ``dim`` and points along ``point_dim``; ``index`` broadcasts to the targets.

    Log-sum-exp minus the target's score, reduced in place: F.cross_entropy's value
    without its transposes. Correct means the target's score is a maximum, which is the
    argmax up to exact ties between scores.
    """
    top = out.amax(dim, keepdim=True)
    lse = (out - top).exp_().sum(dim, keepdim=True).log_().add_(top)
    picked = out.gather(dim, index.expand_as(lse))
    return _per_point(lse - picked, point_dim), (
        _per_point((picked >= top).to(out.dtype), point_dim) if classify
        else torch.zeros(out.shape[point_dim], dtype=torch.float64, device=out.device))


def _per_point(values: Tensor, point_dim: int) -> Tensor:
    """Float64 sum per point: each point's samples are reduced on their own (so a point's
    value does not depend on which other points share its batch), then summed in float64."""
    v = values.movedim(point_dim, 0)
    v = v.reshape(v.shape[0], -1, v.shape[-1]) if v.ndim > 2 else v.reshape(v.shape[0], 1, -1)
    return v.sum(-1, dtype=torch.float64).sum(-1)


def _run_chain(chain: list[tuple[str, int, int]], z: Tensor, flat: Tensor, *,
               out: Tensor | None = None) -> Tensor:
    """Linear / ReLU layers with per-point weights ``flat`` ``(p, n)`` on ``z``
    ``(p, features, samples)``; returns ``(p, outputs, samples)`` (in ``out`` if given,
    which needs the chain to end with a Linear layer)."""
    if not chain:
        return z if out is None else out.copy_(z)
    offset = 0
    last = max((i for i, step in enumerate(chain) if step[0] == "linear"), default=-1)
    for i, (kind, out_f, in_f) in enumerate(chain):
        if kind == "relu":
            z = torch.relu_(z)  # z is always a fresh tensor here
            continue
        w = flat[:, offset:offset + out_f * in_f].view(-1, out_f, in_f)
        offset += out_f * in_f
        b = flat[:, offset:offset + out_f]
        offset += out_f
        z = torch.baddbmm(b[:, :, None], w, z, out=out if i == last and i == len(chain) - 1
                          else None)
    if out is not None and z is not out:
        out.copy_(z)
    return z


def _activation_bytes(model: nn.Module, x1: Tensor, *, count_input: bool = True) -> int:
    """Bytes of every layer's output for one sample: the working memory one point needs."""
    sizes: list[int] = [x1.numel() * x1.element_size()] if count_input else []

    def hook(_m: nn.Module, _i: object, out: object) -> None:
        if isinstance(out, Tensor):
            sizes.append(out.numel() * out.element_size())

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():  # BatchNorm is in eval mode already: nothing is updated
            model(x1)
    finally:
        for h in handles:
            h.remove()
    return max(1, int(math.fsum(sizes)))
