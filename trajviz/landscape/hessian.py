"""The Hessian plane: the two eigenvectors of the training loss's Hessian with the largest
eigenvalues, from Hessian-vector products and the Lanczos method.

``H v`` is the vector-Jacobian product of the gradient (`torch.func.vjp` of
`torch.func.grad`; the Hessian is symmetric), summed over blocks of the data, so the
79,510 x 79,510 Hessian of the 784-100-10 net is never formed. Lanczos with full
reorthogonalisation (as in PyHessian's spectral density code, here in float64 on the basis)
builds a Krylov basis one product at a time; the top two Ritz pairs are returned once
their residuals ``|H v - lambda v|`` are below ``tol * |lambda_1|``.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vjp
from torch.nn.modules.batchnorm import _BatchNorm

from ..errors import UsageError
from .directions import Plane
from .evaluator import LossFn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Eigen:
    """Top eigenpairs of a Hessian, largest eigenvalue first.

    Attributes:
        values: ``(k,)`` eigenvalues.
        vectors: ``(k, n)`` unit eigenvectors (float64).
        residuals: ``(k,)`` ``|H v - lambda v|`` of each pair, measured.
        products: Hessian-vector products used.
    """

    values: Tensor
    vectors: Tensor
    residuals: Tensor
    products: int


def hvp_operator(model: nn.Module, weights: Tensor, x: Tensor, y: Tensor, loss_fn: LossFn, *,
                 block: int = 2000) -> Callable[[Tensor], Tensor]:
    """``v -> H v`` for the mean of ``loss_fn`` over ``(x, y)`` at the flat ``weights``.

    BatchNorm layers use their running statistics (as the grid does); a model in training
    mode with dropout is refused (its loss would be random).
    """
    net = copy.deepcopy(model).to(x.device)
    for m in net.modules():
        if isinstance(m, _BatchNorm):
            m.eval()
        if m.training and isinstance(m, nn.modules.dropout._DropoutNd):
            raise UsageError(f"the model is in training mode with {type(m).__name__}, which "
                             "makes the loss random: call model.eval() first")
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    dtype = next(net.parameters()).dtype
    buffers = dict(net.named_buffers())
    w = weights.to(x.device, dtype)

    def split(flat: Tensor) -> dict[str, Tensor]:
        out, offset = {}, 0
        for name, shape in zip(names, shapes, strict=True):
            out[name] = flat[offset:offset + shape.numel()].view(shape)
            offset += shape.numel()
        return out

    def hvp(v: Tensor) -> Tensor:
        total = torch.zeros(w.numel(), dtype=torch.float64, device=x.device)
        tangent = v.to(x.device, dtype)
        for i in range(0, len(x), block):
            xb, yb = x[i:i + block], y[i:i + block]

            def loss(flat: Tensor, xb: Tensor = xb, yb: Tensor = yb) -> Tensor:
                return loss_fn(functional_call(net, {**split(flat), **buffers}, (xb,)), yb)

            _, pullback = vjp(grad(loss), w)
            total += pullback(tangent)[0].double() * (len(xb) / len(x))
        return total.to(v.device)

    return hvp


def top_eigen(hvp: Callable[[Tensor], Tensor], n: int, *, k: int = 2, tol: float = 1e-3,
              max_products: int = 100, seed: int = 0) -> Eigen:
    """The ``k`` algebraically largest eigenpairs of the symmetric operator ``hvp`` on
    vectors of size ``n``, by Lanczos with full reorthogonalisation.

    Raises:
        UsageError: the Hessian has fewer than ``k`` dimensions, or is not finite.
    """
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(n, generator=gen, dtype=torch.float64)
    basis = [q / q.norm()]
    alphas: list[float] = []
    betas: list[float] = []
    values = vectors = residuals = None
    for j in range(min(max_products, n)):
        w = hvp(basis[j])
        if not torch.isfinite(w).all():
            raise UsageError("the Hessian-vector product is not finite at the plane's centre")
        alphas.append(float(w @ basis[j]))
        q_mat = torch.stack(basis)
        w = w - q_mat.T @ (q_mat @ w)  # full reorthogonalisation, twice is enough
        w = w - q_mat.T @ (q_mat @ w)
        beta = float(w.norm())
        t = torch.diag(torch.tensor(alphas, dtype=torch.float64))
        if betas:
            off = torch.tensor(betas, dtype=torch.float64)
            t += torch.diag(off, 1) + torch.diag(off, -1)
        theta, s = torch.linalg.eigh(t)
        theta, s = theta.flip(0), s.flip(1)
        if len(alphas) >= k:
            values = theta[:k]
            vectors = (q_mat.T @ s[:, :k]).T
            residuals = beta * s[-1, :k].abs()  # |H v - theta v| of each Ritz pair
            scale = max(abs(float(values[0])), 1e-12)
            if bool((residuals <= tol * scale).all()):
                break
        if beta <= 1e-12 * max(abs(a) for a in alphas):  # an invariant subspace: exact
            break
        betas.append(beta)
        basis.append(w / beta)
    if values is None:
        raise UsageError(f"the Hessian has fewer than {k} dimensions")
    vectors = vectors / vectors.norm(dim=1, keepdim=True)
    measured = torch.stack([(hvp(v) - lam * v).norm() for lam, v in zip(values, vectors,
                                                                        strict=True)])
    products = len(alphas) + k
    if bool((measured > 10 * tol * max(abs(float(values[0])), 1e-12)).any()):
        log.warning("Lanczos stopped after %d products with residuals %s", products,
                    [f"{float(r):.2g}" for r in measured])
    return Eigen(values, vectors, measured, products)


def hessian_plane(model: nn.Module, centre: Tensor, x: Tensor, y: Tensor, loss_fn: LossFn, *,
                  tol: float = 1e-3, max_products: int = 100, seed: int = 0) -> Plane:
    """The plane through ``centre`` along the Hessian's top two eigenvectors (unit vectors),
    with the eigenvalues in ``meta`` (and on the figure's axes).

    Args:
        model: the net (its architecture; the weights are ``centre``).
        centre: flat weights in ``parameters_to_vector`` order.
        x, y: the data the loss is averaged over (the grid's evaluation set).
        loss_fn: ``loss_fn(output, target)``, the batch mean.
        tol: relative residual at which Lanczos stops.
        max_products: at most this many Hessian-vector products.
        seed: seeds Lanczos's start vector.
    """
    eig = top_eigen(hvp_operator(model, centre, x, y, loss_fn), centre.numel(), k=2, tol=tol,
                    max_products=max_products, seed=seed)
    d1, d2 = (v.float().cpu() for v in eig.vectors)
    values = [float(v) for v in eig.values]
    log.info("Hessian plane: eigenvalues %.4g and %.4g after %d products", *values,
             eig.products)
    return Plane(centre.float().cpu(), d1, d2, "hessian", meta={
        "eigenvalues": values, "residuals": [float(r) for r in eig.residuals],
        "hvp_products": eig.products, "lanczos_seed": seed, "tol": tol,
        "samples": len(x)})


def curvature_extent(eigenvalues: list[float], rise: float = 1.0) -> tuple[float, float]:
    """Half-widths along the two eigenvectors over which the quadratic model's loss rises
    by ``rise``: ``sqrt(2 rise / lambda)`` (wide where the curvature is not positive)."""
    return tuple(math.sqrt(2 * rise / v) if v > 0 else 1.0 for v in eigenvalues)


__all__ = ["Eigen", "curvature_extent", "hessian_plane", "hvp_operator", "top_eigen"]
