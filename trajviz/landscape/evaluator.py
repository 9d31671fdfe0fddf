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

Every method produces each point's outputs on all the data; the loss is then the user's
``loss_fn(outputs, y)`` per point, exactly what the plain loop computes, whatever the loss
(mean cross-entropy alone is reduced in place, without log-probabilities). Points are
processed in chunks sized to a memory budget, data in blocks.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap
from torch.nn import functional as F
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils import vector_to_parameters

from .._resolve import resolve_device
from .._threads import torch_threads
from ..errors import UsageError
from .directions import Plane

log = logging.getLogger(__name__)
LossFn = Callable[[Tensor, Tensor], Tensor]
Method = Literal["auto", "affine", "vmap", "loop"]
METHODS = ("auto", "affine", "vmap", "loop")
HEADS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
DEFAULT_MEMORY_MB = 64
CHAIN_BLOCK = 512  # samples per block on the fast path: hidden activations stay in cache
CACHE_BYTES = 8 * 2**20  # target working set of one batched step on the fast path
Item = TypeVar("Item")
Value = TypeVar("Value")


class PlaneEvaluator:
    """Evaluates ``loss_fn`` on all the data, and accuracy, on a plane of weights.

    Args:
        model: the net; its weights are not changed. A model in ``eval()`` mode is
            evaluated in eval mode, one in training mode in training mode, except that
            BatchNorm layers always use their running statistics (kept fixed).
        plane: centre and directions (flat, ``parameters_to_vector`` order).
        x, y: the data the loss is averaged over.
        loss_fn: ``loss_fn(output, y)`` on the outputs for all of ``x``, returning one
            number (any reduction; cross-entropy by default).
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
        self._cache_lock = threading.Lock()  # the fast path's threads share the cache
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
        with torch.no_grad():
            one = self.model(self.x[:1])
        self.out_shape = one.shape[1:]
        self.out_bytes = one[0].numel() * one.element_size()
        # the in-place cross-entropy needs class labels in range (else torch's own check runs)
        self._cross_entropy = (is_cross_entropy(loss_fn) and self.classify and one.ndim == 2
                               and bool(((self.y >= 0) & (self.y < one.shape[1])).all()))
        n_blocks = -(-len(self.x) // CHAIN_BLOCK)
        self._block = -(-len(self.x) // n_blocks)  # equal blocks where the size divides
        self._sub = max(1, CACHE_BYTES // (self._block * self.sample_bytes))
        log.debug("plane evaluator: %s on %s, %d bytes of activations per sample and point",
                  self.method, self.device, self.sample_bytes)

    # -- sizes -----------------------------------------------------------------------------
    def chunk_sizes(self) -> tuple[int, int]:
        """(points per chunk, samples per data block) that fit the memory budget: one chunk
        holds every point's outputs on all the data plus one block's activations."""
        # every point's outputs on all the data, unless reduced block by block
        outputs = 0 if self._fast and self._cross_entropy else len(self.x) * self.out_bytes
        if self._fast:
            return max(self._sub, self.budget // (self._block * self.sample_bytes + outputs)), \
                self._block
        block = max(1, min(len(self.x), self.budget // (4 * self.sample_bytes)))
        points = max(1, self.budget // (block * self.sample_bytes + outputs))
        return points, block

    def weights(self, coeffs: Tensor, start: int = 0) -> Tensor:
        """``(p, n_params - start)`` weights (from parameter ``start`` on) at ``coeffs``."""
        v = self.vectors[:, start:]
        c = coeffs.to(v)
        return v[0] + c[:, :1] * v[1] + c[:, 1:] * v[2]

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(self, points: Tensor | np.ndarray, *, chunk: int | None = None,
                 on_chunk: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The loss and accuracy (NaN unless the targets are class labels) at ``points``.

        Each point's loss is ``loss_fn(outputs, y)`` on the outputs for all the data, as a
        plain loop gives it (set the weights, one forward pass, the loss), whatever the loss.

        Args:
            points: ``(p, 2)`` plane coordinates ``(alpha, beta)``.
            chunk: points per chunk (default: from the memory budget).
            on_chunk: called with the number of points after each chunk (progress bars).
        """
        pts = torch.as_tensor(np.asarray(points), dtype=torch.float64).reshape(-1, 2)
        step = chunk or self.chunk_sizes()[0]
        loss = np.empty(len(pts))
        acc = np.empty(len(pts))
        with torch.no_grad():
            for i in range(0, len(pts), step):
                coeffs = pts[i:i + step]
                if self._fast and self._cross_entropy:
                    values, correct = self._fast_cross_entropy(coeffs)
                else:
                    values, correct = self._score(*self.outputs(coeffs))
                loss[i:i + len(coeffs)] = values.cpu().numpy()
                acc[i:i + len(coeffs)] = (correct / len(self.x)).cpu().numpy()
                if on_chunk is not None:
                    on_chunk(len(coeffs))
        if not self.classify:
            acc[:] = np.nan
        return loss, acc

    def outputs(self, coeffs: Tensor) -> tuple[Tensor, int]:
        """The net's outputs on all the data at each of the points ``coeffs`` ``(p, 2)``, and
        the dimension its classes (or output features) lie along: ``(p, samples, ...)`` with
        classes at 2, or ``(p, classes, samples)`` with classes at 1 on the fast path."""
        if self._fast:
            parts = self._parts(coeffs)
            return torch.cat(self._spread(lambda item: self._fast_logits(item[0])[:item[1]],
                                          parts)), 1
        fn = {"affine": self._affine, "vmap": self._vmap, "loop": self._loop}[self.method]
        block = self.chunk_sizes()[1]
        return torch.cat([fn(coeffs, j, j + block) for j in range(0, len(self.x), block)],
                         1), 2

    def _score(self, out: Tensor, classes: int) -> tuple[Tensor, Tensor]:
        """Per point (loss, number correct) of outputs ``out`` (see `outputs`)."""
        n = len(self.y)
        if self._cross_entropy:
            sums, correct = _cross_entropy_sums(out, self.y.view((1, 1, n) if classes == 1
                                                                 else (1, n, 1)), classes,
                                                self.classify)
            return sums / n, correct
        values = torch.empty(len(out), dtype=torch.float64, device=out.device)
        for i, o in enumerate(out):
            value = torch.as_tensor(self.loss_fn(o.movedim(classes - 1, -1).contiguous()
                                                 if classes == 1 else o, self.y))
            if value.numel() != 1:
                raise UsageError(f"loss_fn must return one number for the data (a mean or a "
                                 f"sum), it returned shape {tuple(value.shape)}")
            values[i] = value.reshape(())
        correct = torch.zeros(len(out), dtype=torch.float64, device=out.device)
        if self.classify and out.ndim == 3:
            correct = (out.argmax(classes) == self.y).sum(1, dtype=torch.float64)
        return values, correct

    def _params(self, flat: Tensor, names: list[str], shapes: list[torch.Size]
                ) -> dict[str, Tensor]:
        out, offset = {}, 0
        for name, shape in zip(names, shapes, strict=True):
            n = shape.numel()
            out[name] = flat[:, offset:offset + n].reshape(len(flat), *shape)
            offset += n
        return out

    def _vmap(self, coeffs: Tensor, j0: int, j1: int) -> Tensor:
        x = self.x[j0:j1]
        params = self._params(self.weights(coeffs), self.names, self.shapes)

        def f(p: dict[str, Tensor]) -> Tensor:
            return functional_call(self.model, {**p, **self.buffers}, (x,))

        return vmap(f)(params)

    def _loop(self, coeffs: Tensor, j0: int, j1: int) -> Tensor:
        x = self.x[j0:j1]
        outs = []
        for w in self.weights(coeffs):
            vector_to_parameters(w, self.model.parameters())
            outs.append(self.model(x))
        return torch.stack(outs)

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
        with self._cache_lock:
            if key not in self._cache and self._cached_bytes + size <= self.cache_budget:
                self._cache[key] = heads
                self._cached_bytes += size
        return heads

    def _fast_blocks(self, coeffs: Tensor, full: Tensor | None = None
                     ) -> Iterator[tuple[int, int, Tensor]]:
        """The affine fast path, a Linear head and a Linear / ReLU tail laid out
        ``(points, features, samples)``: yields ``(j0, j1, outputs)`` per data block, the
        outputs ``(points, classes, j1 - j0)`` of samples ``j0:j1``, written into
        ``full[b]`` for the ``b``-th full-sized block when ``full`` is given. Hidden
        activations are made and used one cache-sized block at a time."""
        split, n = self._split, len(self.x)
        c = coeffs.to(device=self.device, dtype=self.vectors.dtype)
        rows = _rows(c)
        layers = _layers(split.chain, self.weights(coeffs, split.head_numel))
        width = split.head.out_features
        # one buffer for every block's first-layer values: no fresh pages per block
        work = torch.empty(len(c) * width * min(self._block, n), dtype=c.dtype, device=c.device)
        for b, j0 in enumerate(range(0, n, self._block)):
            j1 = min(j0 + self._block, n)
            z = _combine(self._heads(j0, j1), c, rows,
                         out=work[:len(c) * width * (j1 - j0)].view(len(c), -1))
            z = z.view(len(c), width, j1 - j0)
            into = full[b] if full is not None and b < len(full) else None
            yield j0, j1, _run_chain(layers, z, out=into)

    def _parts(self, coeffs: Tensor) -> list[tuple[Tensor, int]]:
        """``coeffs`` in parts of at most `_sub` points for the fast path, as even in size as
        can be and as many as a multiple of the threads that share them (`_spread`), each
        as ``(points, how many are real)``. A lone point is evaluated twice: torch's batched
        matrix product takes another kernel, with other rounding, for a batch of one."""
        if not len(coeffs):
            return []
        count = -(-len(coeffs) // self._sub)
        ways = self._threads()
        count = min(len(coeffs), -(-count // ways) * ways)
        size = -(-len(coeffs) // count)
        return [((part.repeat(2, 1) if len(part) == 1 else part), len(part))
                for part in coeffs.split(size)]

    def _threads(self) -> int:
        """Threads that share the fast path's parts (`_spread`): torch's CPU threads, as
        many as the memory budget holds parts; one on a GPU."""
        if self.device.type != "cpu":
            return 1
        part = self._sub * (self._block * self.sample_bytes
                            + len(self.x) * self.out_bytes)  # activations and outputs
        return max(1, min(torch.get_num_threads(), self.budget // part))

    def _spread(self, fn: Callable[[Item], Value], items: Sequence[Item]) -> list[Value]:
        """``[fn(item) for item in items]``, shared among `_threads` threads that each run
        their operations single-threaded. The fast path's operations are small and bound
        by memory: split inside each operation, threads wait for one another and share
        their caches, while a part per thread keeps each thread's block in its own core's
        cache. Every value is that of a single-threaded run, whatever the thread count."""
        if self.device.type != "cpu":
            return [fn(item) for item in items]
        workers = min(self._threads(), len(items))
        with torch_threads(1):
            if workers <= 1:
                return [fn(item) for item in items]
            pool = ThreadPoolExecutor(workers, thread_name_prefix="trajviz-grid",
                                      initializer=torch.set_num_threads, initargs=(1,))
            try:
                return list(pool.map(fn, items))
            finally:  # an error or an interrupt: what has not started never does
                pool.shutdown(cancel_futures=True)

    def _fast_logits(self, coeffs: Tensor) -> Tensor:
        """``(points, classes, samples)`` outputs on all the data from `_fast_blocks`."""
        out = torch.empty(len(coeffs), self.out_shape[0], len(self.x),
                          dtype=self.vectors.dtype, device=self.device)
        for j0, j1, block in self._fast_blocks(coeffs):
            out[:, :, j0:j1] = block
        return out

    def _fast_cross_entropy(self, coeffs: Tensor) -> tuple[Tensor, Tensor]:
        """Mean cross-entropy and number correct per point. The outputs of all full-sized
        blocks land in one ``(blocks, points, classes, samples)`` buffer, so the loss is
        reduced in a few large operations; a shorter last block is reduced on its own."""
        n, block = len(self.x), self._block
        n_full = n // block
        y_full = self.y[:n_full * block].view(n_full, 1, 1, block)
        per_point = n_full * self.out_shape[0] * block
        parts = self._parts(coeffs)
        scratch = threading.local()  # a buffer per thread, reused for its parts

        def reduce(item: tuple[Tensor, int]) -> tuple[Tensor, Tensor]:
            part, real = item
            if not hasattr(scratch, "buffer"):
                scratch.buffer = torch.empty(max(len(p) for p, _ in parts) * per_point,
                                             dtype=self.vectors.dtype, device=self.device)
            full = scratch.buffer[:len(part) * per_point].view(n_full, len(part),
                                                               self.out_shape[0], block)
            total = torch.zeros(len(part), dtype=torch.float64, device=self.device)
            correct = torch.zeros_like(total)
            for j0, j1, out in self._fast_blocks(part, full):
                if j1 - j0 < block:
                    s, m = _cross_entropy_sums(out, self.y[j0:j1].view(1, 1, -1), 1,
                                               self.classify)
                    total, correct = total + s, correct + m
            if n_full:
                s, m = _cross_entropy_sums(full, y_full, 2, self.classify, point_dim=1)
                total, correct = total + s, correct + m
            return total[:real] / n, correct[:real]

        losses, corrects = zip(*self._spread(reduce, parts), strict=True)
        return torch.cat(losses), torch.cat(corrects)

    def _affine(self, coeffs: Tensor, j0: int, j1: int) -> Tensor:
        split = self._split
        heads = self._heads(j0, j1)
        c = coeffs.to(device=self.device, dtype=heads.dtype)
        tail_w = self.weights(coeffs, split.head_numel)
        shape = (len(c),) + (1,) * (heads.ndim - 1)
        z = heads[0] + c[:, 0].view(shape) * heads[1] + c[:, 1].view(shape) * heads[2]
        params = self._params(tail_w, split.tail_names, split.tail_shapes)
        buffers = {k[len(split.tail_prefix):]: v for k, v in self.buffers.items()
                   if k.startswith(split.tail_prefix)}
        return vmap(lambda p, zi: functional_call(split.tail, {**p, **buffers}, (zi,)))(
            params, z)


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


Row = tuple[slice, Tensor, Tensor]  # points, their shared b, their a as a column


def _rows(c: Tensor) -> list[Row]:
    """The runs of consecutive points ``(a, b)`` of ``c`` with the same ``b`` (a grid's rows),
    for `_combine`."""
    _, counts = torch.unique_consecutive(c[:, 1], return_counts=True)
    rows, start = [], 0
    for stop in counts.cumsum(0).tolist():
        rows.append((slice(start, stop), c[start, 1], c[start:stop, :1]))
        start = stop
    return rows


def _combine(heads: Tensor, c: Tensor, rows: list[Row], *, out: Tensor) -> Tensor:
    """``(heads[0] + b * heads[2]) + a * heads[1]`` for each point ``(a, b)`` of ``c``, into
    ``out`` ``(points, heads[0].numel())``, element by element in that order, so each
    point's values do not depend on the batch it is in. The bracket is computed once per
    row (`_rows`), which saves a pass over the points' values; scattered points take two
    batched passes instead."""
    if 2 * len(rows) > len(c):
        z = torch.addcmul(heads[0], c[:, 1:], heads[2], out=out)
        return z.addcmul_(c[:, :1], heads[1])
    for points, b, a in rows:
        torch.addcmul(torch.addcmul(heads[0], b, heads[2]), a, heads[1], out=out[points])
    return out


def is_cross_entropy(loss_fn: LossFn) -> bool:
    """Whether ``loss_fn`` is plain mean cross-entropy, which `_cross_entropy_sums` computes
    without materialising log-probabilities (other losses are applied as given)."""
    if loss_fn is F.cross_entropy:
        return True
    return (type(loss_fn) is nn.CrossEntropyLoss and loss_fn.weight is None
            and loss_fn.reduction == "mean" and loss_fn.label_smoothing == 0.0)


def _cross_entropy_sums(out: Tensor, index: Tensor, dim: int, classify: bool, *,
                        point_dim: int = 0) -> tuple[Tensor, Tensor]:
    """Per point (sum of cross-entropies, number correct) of scores ``out`` whose classes
    lie along ``dim`` and points along ``point_dim``; ``index`` (the targets) broadcasts to
    the rest.

    Log-sum-exp minus the target's score, reduced in place: F.cross_entropy's value
    without its transposes. Correct means the target's score is a maximum, which is the
    argmax up to exact ties between scores. ``out`` is overwritten (no second buffer of its
    size).
    """
    top = out.amax(dim, keepdim=True)
    picked = out.gather(dim, index.expand_as(top))
    lse = out.sub_(top).exp_().sum(dim, keepdim=True).log_().add_(top)
    return _per_point(lse - picked, point_dim), (
        _per_point((picked >= top).to(out.dtype), point_dim) if classify
        else torch.zeros(out.shape[point_dim], dtype=torch.float64, device=out.device))


def _per_point(values: Tensor, point_dim: int) -> Tensor:
    """Float64 sum per point: each point's samples are reduced on their own (so a point's
    value does not depend on which other points share its batch), then summed in float64."""
    v = values.movedim(point_dim, 0)
    v = v.reshape(v.shape[0], -1, v.shape[-1]) if v.ndim > 2 else v.reshape(v.shape[0], 1, -1)
    return v.sum(-1, dtype=torch.float64).sum(-1)


Layer = tuple[Tensor, Tensor] | None  # a Linear layer's per-point (weight, bias), or ReLU


def _layers(chain: list[tuple[str, int, int]], flat: Tensor) -> list[Layer]:
    """The chain's layers with per-point weights ``flat`` ``(p, n)``: ``(weight (p, out,
    in), bias (p, out, 1))`` per Linear layer, ``None`` per ReLU."""
    layers: list[Layer] = []
    offset = 0
    for kind, out_f, in_f in chain:
        if kind == "relu":
            layers.append(None)
            continue
        w = flat[:, offset:offset + out_f * in_f].view(-1, out_f, in_f)
        offset += out_f * in_f
        layers.append((w, flat[:, offset:offset + out_f, None]))
        offset += out_f
    return layers


def _run_chain(layers: list[Layer], z: Tensor, *, out: Tensor | None = None) -> Tensor:
    """`_layers` on ``z`` ``(p, features, samples)``; returns ``(p, outputs, samples)``, in
    ``out`` (contiguous) if given."""
    for i, layer in enumerate(layers):
        if layer is None:
            z = torch.relu_(z)  # z is a fresh tensor or the caller's scratch buffer here
            continue
        z = torch.baddbmm(layer[1], layer[0], z, out=out if i == len(layers) - 1 else None)
    if out is not None and z is not out:
        out.copy_(z)
        return out
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
