"""max(x, bound) with a gradient that can still push x up from below the bound."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class _LowerBoundFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, bound: Tensor) -> Tensor:  # noqa: ANN001
        ctx.save_for_backward(x, bound)
        return torch.max(x, bound)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # noqa: ANN001
        x, bound = ctx.saved_tensors
        # pass the gradient where x is above the bound, or where descent would raise x
        keep = (x >= bound) | (grad < 0)
        return keep * grad, None


class LowerBound(nn.Module):
    """Element-wise max(x, bound); below the bound the gradient only passes when it raises x
    (so a parameter stuck under the bound can recover). The bound is a buffer named ``bound``."""

    bound: Tensor

    def __init__(self, bound: float) -> None:
        super().__init__()
        self.register_buffer("bound", torch.tensor([float(bound)]))

    def forward(self, x: Tensor) -> Tensor:
        return _LowerBoundFn.apply(x, self.bound)


class NonNegative(nn.Module):
    """Reparametrisation v = max(p, sqrt(minimum + offset^2))^2 - offset^2 >= minimum, which keeps
    GDN's beta and gamma positive while training stays stable near zero (Ballé 2018)."""

    pedestal: Tensor

    def __init__(self, minimum: float = 0.0, offset: float = 2.0**-18) -> None:
        super().__init__()
        self.minimum = float(minimum)
        self.register_buffer("pedestal", torch.tensor([float(offset) ** 2]))
        self.lower_bound = LowerBound((self.minimum + float(offset) ** 2) ** 0.5)

    def init(self, v: Tensor) -> Tensor:
        """The parameter p that represents value v."""
        return torch.sqrt(torch.max(v + self.pedestal, self.pedestal))

    def forward(self, p: Tensor) -> Tensor:
        return self.lower_bound(p) ** 2 - self.pedestal
