"""Motion for the video codec: backward warping and encoder-side motion estimation.

Flows are [B, 2, h, w] in pixels of the resolution they are stored at, channel 0 horizontal
(x), channel 1 vertical (y), pointing from a pixel of the current frame to where it is found in
the reference: ``cur(p) ~ ref(p + flow(p))`` (backward warping).

Motion estimation runs in the encoder only; the decoder never runs it (it decodes the coded
flow). It is pluggable: :func:`flow_estimator` gives ``"dis"`` (OpenCV's DIS optical flow, when
``opencv-python-headless`` is installed) or ``"pyramid"`` (built in: coarse-to-fine block
matching on luma in PyTorch, batched, integer then half-pixel steps). Both return the flow at
a quarter of the frame's resolution (in pixels of that resolution), the motion coder's input.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from neurocodec.errors import InputError

log = logging.getLogger(__name__)

FlowEstimator = Callable[[Tensor, Tensor], Tensor]


@lru_cache(maxsize=8)
def _base_grid(h: int, w: int, device: str, dtype: torch.dtype) -> Tensor:
    ys = torch.arange(h, dtype=dtype, device=device)
    xs = torch.arange(w, dtype=dtype, device=device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), 0)[None]  # [1, 2, h, w]


def warp(x: Tensor, flow: Tensor) -> Tensor:
    """Backward-warp x [B, C, h, w] by flow [B, 2, h, w] (pixels at x's resolution): bilinear,
    samples outside the frame take the border value."""
    b, _, h, w = x.shape
    pos = _base_grid(h, w, str(x.device), x.dtype) + flow
    gx = pos[:, 0] * (2.0 / max(w - 1, 1)) - 1.0
    gy = pos[:, 1] * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), -1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


def resize_flow(flow: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize of a flow to `size` (h, w), its vectors scaled to the new resolution."""
    h, w = flow.shape[-2:]
    if (h, w) == tuple(size):
        return flow
    out = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    scale = torch.tensor([size[1] / w, size[0] / h], dtype=flow.dtype, device=flow.device)
    return out * scale.reshape(1, 2, 1, 1)


def _luma(x: Tensor) -> Tensor:
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]) if x.shape[1] == 3 else x[:, :1]


def _search(cur: Tensor, ref: Tensor, flow: Tensor, offsets: list[tuple[float, float]], window: int) -> Tensor:
    """For every pixel, flow + the offset of least windowed absolute difference."""
    best_cost, best = None, None
    for dx, dy in offsets:
        cand = flow + torch.tensor([dx, dy], dtype=flow.dtype, device=flow.device).reshape(1, 2, 1, 1)
        cost = F.avg_pool2d((cur - warp(ref, cand)).abs(), window, 1, window // 2, count_include_pad=False)
        # a small preference for short vectors: flat areas keep the smoother (cheaper) motion
        cost = cost + 1e-4 * (dx * dx + dy * dy) ** 0.5
        if best_cost is None:
            best_cost, best = cost, cand
        else:
            better = cost < best_cost
            best_cost = torch.where(better, cost, best_cost)
            best = torch.where(better, cand, best)
    return best


@torch.no_grad()
def pyramid_flow(cur: Tensor, ref: Tensor, levels: int = 4, radius: int = 3) -> Tensor:
    """Built-in motion estimation: cur, ref [B, 3, H, W] (H, W multiples of 4) -> flow at
    H/4 x W/4 (in quarter-resolution pixels).

    Block matching on luma from 1/2^levels of the resolution (search radius `radius`) down to
    full resolution (radius 1 at each finer level, then a half-pixel step), with 5x5 (coarse)
    to 7x7 (full) windows of absolute differences; the result is averaged to 1/4 resolution.
    """
    c, r = _luma(cur.float()), _luma(ref.float())
    pyr = [(c, r)]
    for _ in range(levels):
        c, r = F.avg_pool2d(c, 2, ceil_mode=True), F.avg_pool2d(r, 2, ceil_mode=True)
        pyr.append((c, r))
    flow = torch.zeros(cur.shape[0], 2, *pyr[-1][0].shape[-2:], dtype=c.dtype, device=c.device)
    full = [(dx, dy) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]
    near = [(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    for i in range(levels, -1, -1):
        ci, ri = pyr[i]
        flow = resize_flow(flow, ci.shape[-2:])
        flow = _search(ci, ri, flow, full if i == levels else near, 5 if i else 7)
    flow = _search(pyr[0][0], pyr[0][1], flow, [(dx * 0.5, dy * 0.5) for dx, dy in near], 7)
    return F.avg_pool2d(flow, 4) / 4.0


def dis_available() -> bool:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


@torch.no_grad()
def dis_flow(cur: Tensor, ref: Tensor) -> Tensor:
    """OpenCV DIS optical flow (medium preset) on 8-bit luma, per batch item; same output as
    :func:`pyramid_flow`."""
    import cv2
    import numpy as np

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    out = []
    for a, b in zip(_luma(cur.float()), _luma(ref.float())):
        a8 = (a[0].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        b8 = (b[0].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        f = dis.calc(a8, b8, None)  # a(p) ~ b(p + f(p))
        out.append(torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1))))
    flow = torch.stack(out).to(cur.device, torch.float32)
    return F.avg_pool2d(flow, 4) / 4.0


ESTIMATORS: dict[str, FlowEstimator] = {"pyramid": pyramid_flow, "dis": dis_flow}


def flow_estimator(name: str = "auto") -> FlowEstimator:
    """The motion estimator by name: "pyramid" (built in), "dis" (needs OpenCV) or "auto"
    (the built-in one: what the shipped model was trained with)."""
    if name == "auto":
        name = "pyramid"
    if name not in ESTIMATORS:
        raise InputError(f"unknown motion estimator {name!r} (known: auto, {', '.join(ESTIMATORS)})")
    if name == "dis" and not dis_available():
        raise InputError("motion estimator 'dis' needs OpenCV: pip install opencv-python-headless")
    return ESTIMATORS[name]
