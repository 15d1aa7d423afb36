"""Quality metrics, registered per modality.

A metric is a function ``(reference, decoded) -> dict[str, float]``: one computation may give
several named values (MS-SSIM gives ``ms_ssim`` and ``ms_ssim_db``). Each value is described by a
:class:`Value` (label, unit, direction, how its data-set mean is formed), which the result files,
BD-rate and plots read, so a new modality only registers its metrics here::

    register_metric("audio", "si-sdr", si_sdr_fn, [Value("si_sdr", "SI-SDR", "dB")])

The runner then computes every metric registered for the modality on every decoded item.
Images are registered below; audio (PESQ-WB, STOI, SI-SDR, mel distance) in :mod:`audio_metrics`.
Video registers the image functions per frame (PSNR-RGB, MS-SSIM): the video modality computes
them on each decoded frame and forms a clip's values as the mean over its frames
(:func:`mean_values`, so a clip's MS-SSIM dB is the dB of its mean MS-SSIM).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from neurocodec.errors import InputError

log = logging.getLogger(__name__)

MetricFn = Callable[[Any, Any], dict[str, float]]


@dataclass(frozen=True)
class Value:
    """One named number a metric produces.

    ``mean_from`` builds the data-set mean from the means of other values instead of averaging
    per-item values (e.g. MS-SSIM dB of the mean MS-SSIM, CompressAI's convention).
    """

    key: str
    label: str
    unit: str = ""
    higher_is_better: bool = True
    plot: bool = True  # drawn and BD-compared by default
    mean_from: Callable[[dict[str, float]], float] | None = None
    definition: str = ""  # how the value is formed, when its label alone does not say (axis labels)

    @property
    def axis_label(self) -> str:
        """E.g. "PSNR-RGB [dB]", or "MS-SSIM [dB] = -10 log10(1 - MS-SSIM)" with a definition."""
        text = f"{self.label} [{self.unit}]" if self.unit else self.label
        return f"{text} = {self.definition}" if self.definition else text


@dataclass(frozen=True)
class Metric:
    name: str
    fn: MetricFn
    values: tuple[Value, ...]
    packages: tuple[str, ...] = ()  # distributions it computes with; their versions go in the results


_REGISTRY: dict[str, dict[str, Metric]] = {}


def register_metric(modality: str, name: str, fn: MetricFn, values: list[Value],
                    packages: tuple[str, ...] = ()) -> None:
    """Register `fn` as metric `name` of `modality` (replacing one of the same name); `packages`:
    the distributions it computes with, whose versions the result files record."""
    _REGISTRY.setdefault(modality, {})[name] = Metric(name, fn, tuple(values), tuple(packages))


def metrics_for(modality: str) -> list[Metric]:
    """The metrics registered for `modality`, in registration order."""
    if modality not in _REGISTRY:
        raise InputError(f"no metrics registered for modality {modality!r} (known: {sorted(_REGISTRY)})")
    return list(_REGISTRY[modality].values())


def values_for(modality: str) -> dict[str, Value]:
    """Every value key the metrics of `modality` produce, with its description."""
    return {v.key: v for m in metrics_for(modality) for v in m.values}


def plot_keys(modality: str) -> list[str]:
    """The values drawn and BD-compared by default for `modality` (e.g. PSNR, MS-SSIM dB)."""
    return [k for k, v in values_for(modality).items() if v.plot]


def compute(modality: str, reference: Any, decoded: Any) -> dict[str, float]:
    """All metric values of `modality` for one item."""
    out: dict[str, float] = {}
    for m in metrics_for(modality):
        out.update(m.fn(reference, decoded))
    return out


def mean_values(modality: str, per_item: list[dict[str, float]]) -> dict[str, float]:
    """Data-set means of each metric value (NaN-free values only; None when none)."""
    desc = values_for(modality)
    means: dict[str, float] = {}
    for key in desc:
        xs = [r[key] for r in per_item if r.get(key) is not None and math.isfinite(r[key])]
        means[key] = float(np.mean(xs)) if xs else None  # type: ignore[assignment]
    for key, v in desc.items():
        if v.mean_from is not None:
            try:
                means[key] = float(v.mean_from(means))
            except (TypeError, ValueError, ZeroDivisionError):
                means[key] = None  # type: ignore[assignment]
    return means


# --------------------------------------------------------------------------- images

PSNR_CAP_DB = 100.0  # PSNR of identical images (MSE 0) is reported as this value


def _check_pair(ref: np.ndarray, dec: np.ndarray) -> None:
    if ref.shape != dec.shape:
        raise InputError(f"decoded image has shape {dec.shape}, the original {ref.shape}")
    if ref.ndim != 3 or ref.shape[2] != 3:
        raise InputError(f"images must be HxWx3 RGB, got shape {ref.shape}")


def psnr_rgb(ref: np.ndarray, dec: np.ndarray) -> dict[str, float]:
    """PSNR in dB over all RGB samples of two uint8 HxWx3 images (peak 255)."""
    _check_pair(ref, dec)
    mse = float(np.mean((ref.astype(np.float64) - dec.astype(np.float64)) ** 2))
    psnr = PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10 * math.log10(255.0**2 / mse))
    return {"psnr_rgb": psnr}


MS_SSIM_MIN_SIDE = 161  # five scales of an 11-tap window need (11 - 1) * 2**4 + 1 pixels


def ms_ssim_db(value: float) -> float:
    """MS-SSIM on a dB scale: -10 log10(1 - MS-SSIM)."""
    return PSNR_CAP_DB if value >= 1 else -10 * math.log10(1 - value)


def ms_ssim_rgb(ref: np.ndarray, dec: np.ndarray, warn: bool = True) -> dict[str, float]:
    """MS-SSIM (pytorch-msssim, Wang et al. 2003 weights, 11x11 Gaussian window, sigma 1.5)
    on RGB uint8 images, channels averaged; and its dB form. NaN below 161 pixels a side
    (logged as a warning unless `warn` is False: video frames say it once per clip)."""
    _check_pair(ref, dec)
    if min(ref.shape[:2]) < MS_SSIM_MIN_SIDE:
        if warn:
            log.warning("MS-SSIM needs images of at least %d px a side; got %s: reporting NaN", MS_SSIM_MIN_SIDE,
                        ref.shape[:2])
        return {"ms_ssim": float("nan"), "ms_ssim_db": float("nan")}
    import torch
    from pytorch_msssim import ms_ssim

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(a, dtype=np.float32)).permute(2, 0, 1)[None]

    # one thread: small convolutions gain little from more, and lose badly on a busy machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            v = float(ms_ssim(t(ref), t(dec), data_range=255.0, size_average=True))
    finally:
        torch.set_num_threads(threads)
    return {"ms_ssim": v, "ms_ssim_db": ms_ssim_db(v)}


def _ms_ssim_quiet(ref: np.ndarray, dec: np.ndarray) -> dict[str, float]:
    return ms_ssim_rgb(ref, dec, warn=False)


def _ms_ssim_values() -> list[Value]:
    return [
        Value("ms_ssim", "MS-SSIM", plot=False),
        # dB of the mean MS-SSIM, as CompressAI's plots and published MS-SSIM dB numbers
        Value("ms_ssim_db", "MS-SSIM", "dB", mean_from=lambda m: ms_ssim_db(m["ms_ssim"]),
              definition="-10 log10(1 - MS-SSIM)"),
    ]


register_metric("image", "psnr-rgb", psnr_rgb, [Value("psnr_rgb", "PSNR-RGB", "dB")])
register_metric("image", "ms-ssim", ms_ssim_rgb, _ms_ssim_values(), packages=("pytorch-msssim",))

# video: the same functions on each frame (RGB against the read_rgb reference); clip values are
# means over frames, data-set values means over clips
register_metric("video", "psnr-rgb", psnr_rgb, [Value("psnr_rgb", "PSNR-RGB", "dB",
                                                       definition="mean of per-frame PSNR")])
register_metric("video", "ms-ssim", _ms_ssim_quiet, _ms_ssim_values(), packages=("pytorch-msssim",))

# the other modalities' metrics register themselves on import
from neurocodec.evaluate import audio_metrics  # noqa: E402,F401
