"""Multi-scale log-mel distance: the audio codecs' reconstruction loss and an evaluation metric.

Seven STFT scales (windows 32 ... 2048 samples, hop a quarter window, Hann), with 5 ... 320
mel bands; per scale the L1 distance between log10 of the clamped squared mel magnitudes,
summed over scales (the definition of DAC's mel loss, Kumar et al. 2023).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchaudio.transforms import MelSpectrogram

WINDOWS = (32, 64, 128, 256, 512, 1024, 2048)
MELS = (5, 10, 20, 40, 80, 160, 320)


class MultiScaleMel(nn.Module):
    """distance(x_hat, x) -> [B]: sum over scales of mean |log10 mel(x_hat)^2 - log10 mel(x)^2|.

    Inputs are [B, T] or [B, 1, T] waveforms at `sample_rate`.
    """

    def __init__(self, sample_rate: int = 16_000, windows: tuple[int, ...] = WINDOWS, mels: tuple[int, ...] = MELS,
                 clamp: float = 1e-5) -> None:
        super().__init__()
        self.clamp = clamp
        self.specs = nn.ModuleList(
            MelSpectrogram(sample_rate, n_fft=w, win_length=w, hop_length=w // 4, n_mels=m, power=1.0,
                           f_min=0.0, f_max=sample_rate / 2, center=True, norm="slaney", mel_scale="slaney")
            for w, m in zip(windows, mels))

    def log_mels(self, x: Tensor) -> list[Tensor]:
        x = x.reshape(x.shape[0], -1)
        return [torch.log10(s(x).clamp_min(self.clamp).pow(2)) for s in self.specs]

    def forward(self, x_hat: Tensor, x: Tensor) -> Tensor:
        total = x.new_zeros(x.shape[0])
        for a, b in zip(self.log_mels(x_hat), self.log_mels(x)):
            total = total + (a - b).abs().flatten(1).mean(1)
        return total
