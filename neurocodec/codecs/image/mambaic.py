"""MambaIC-style image codec (Zeng et al., "MambaIC: State Space Models for High-Performance
Learned Image Compression", CVPR 2025), built from this project's layers.

- g_a / g_s: CNN transforms, latent y [B, M, H/16, W/16]: ``transform="gdn"`` (default) those
  of the ``hyperprior`` (5x5 strided convolutions with GDN; a trained hyperprior of the same N,
  M starts them), or ``"residual"`` those of the ``gmm`` (Cheng et al. 2020 residual blocks).
- h_a (float, encoder only): convolutions around a VSS block; z [B, N, H/64, W/64].
- h_s (integer): transposed convolutions around a VSS block -> hyper features [B, M, H/16, W/16].
- Context model: y is split into S channel slices, each coded in two checkerboard passes
  (anchors (i + j) even, then the rest). For slice s the parameters come from
  the hyper features, a channel context (a convolution and a VSS block over the decoded slices
  0..s-1) and a spatial context (a 5x5 convolution over the slice's decoded anchors; zero in the
  first pass), concatenated, mixed by 1x1 convolutions and window attention, and mapped to
  Q12 scales and Q8 means for the Gaussian conditional.

Portable files: h_s and the whole context model (VSS blocks, window attention, convolutions)
are integer networks (:mod:`neurocodec.entropy.integer_vss`, :mod:`neurocodec.entropy.integer_nets`),
including the selective scan, a fixed-point recurrence evaluated in time order. g_a, g_s and
h_a stay float.

``mixer="conv"`` replaces every VSS block by a convolution block of the same parameter count
(the ablation).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from neurocodec.codecs.image.base import GainUnits, ImageCodec, latent_size, section_bytes
from neurocodec.codecs.image.gmm import anchor_mask, residual_transforms
from neurocodec.codecs.image.hyperprior import gdn_transforms
from neurocodec.codecs.image.refine import sga_round
from neurocodec.entropy import integer_nets as inet
from neurocodec.entropy.integer_vss import ConvMixer, VSSBlock, WindowAttention
from neurocodec.entropy.layers import EntropyBottleneck, GaussianConditional, quantize_train
from neurocodec.errors import InputError
from neurocodec.nn.transforms import (
    conv,
    conv3x3,
)

MIXERS = {"vss": VSSBlock, "conv": ConvMixer}


class MambaIC(ImageCodec):
    name = "mambaic"

    def __init__(self, N: int = 64, M: int = 96, slices: int = 4, state: int = 4, context: int = 48,
                 agg: int = 64, window: int = 4, mixer: str = "vss", transform: str = "gdn", qualities: int = 6,
                 lambdas: tuple[float, ...] | None = None) -> None:
        if M % slices:
            raise InputError(f"M ({M}) must be a multiple of slices ({slices})")
        if mixer not in MIXERS:
            raise InputError(f"mixer must be one of {sorted(MIXERS)}, got {mixer!r}")
        if transform not in ("gdn", "residual"):
            raise InputError(f"transform must be 'gdn' or 'residual', got {transform!r}")
        super().__init__(qualities=qualities, lambdas=lambdas, N=N, M=M, slices=slices, state=state,
                         context=context, agg=agg, window=window, mixer=mixer, transform=transform)
        block = MIXERS[mixer]
        ms = M // slices
        self.N, self.M, self.S, self.Ms = N, M, slices, ms
        self.g_a, self.g_s = gdn_transforms(N, M) if transform == "gdn" else residual_transforms(N, M)
        self.h_a = nn.Sequential(
            conv3x3(M, N), nn.LeakyReLU(inplace=True), block(N, state, exact=False),
            conv(N, N, 5, 2), nn.LeakyReLU(inplace=True), conv(N, N, 5, 2),
        )
        # the hyperprior's h_s layout (a VSS block inserted, identity at initialisation): Q12
        # scales and Q8 means that the context model corrects
        self.h_s = inet.IntSequential(
            inet.IntConvTranspose2d(N, M, 5, stride=2, padding=2, output_padding=1), inet.IntLeakyReLU(),
            block(M, state),
            inet.IntConvTranspose2d(M, M * 3 // 2, 5, stride=2, padding=2, output_padding=1), inet.IntLeakyReLU(),
            inet.IntConv2d(M * 3 // 2, 2 * M, 3, padding=1, out_frac=[inet.SCALE_FRAC] * M + [inet.MEAN_FRAC] * M,
                           out_limit=inet.OUT_LIMIT),
        )
        # channel context of slice s >= 1: the decoded slices 0..s-1
        self.channel_context = nn.ModuleList(
            inet.IntSequential(inet.IntConv2d(s * ms, context, 3, padding=1), inet.IntLeakyReLU(), block(context, state))
            for s in range(1, slices)
        )
        self.spatial_context = nn.ModuleList(inet.IntConv2d(ms, 2 * ms, 5, padding=2) for _ in range(slices))
        fracs = [inet.SCALE_FRAC] * ms + [inet.MEAN_FRAC] * ms
        # per slice: (scale, mean) corrections of the hyper parameters, zero at initialisation
        self.parameters_net = nn.ModuleList(
            inet.IntSequential(
                inet.IntConv2d(2 * M + context + 2 * ms, agg, 1), inet.IntLeakyReLU(),
                WindowAttention(agg, window),
                inet.IntConv2d(agg, agg, 1), inet.IntLeakyReLU(),
                inet.IntConv2d(agg, 2 * ms, 1, out_frac=fracs, out_limit=inet.OUT_LIMIT),
            )
            for _ in range(slices)
        )
        with torch.no_grad():
            for net in self.parameters_net:
                net[-1].weight.zero_()
                net[-1].bias.zero_()
            for m in self.modules():
                if isinstance(m, (VSSBlock, ConvMixer)):
                    m.zero_init()
        self.gains = GainUnits(qualities, M)
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional()
        self.context_channels = context

    @torch.no_grad()
    def init_from_hyperprior(self, other: ImageCodec) -> list[str]:
        """Copy the parts of a trained image codec whose layout and shapes match; returns their
        names. From a ``hyperprior`` of the same N and M (transform "gdn"): g_a, g_s, the
        factorised prior, the gains, and h_a and h_s around the inserted VSS blocks, so that
        (VSS blocks and corrections starting at zero) the new codec starts as that hyperprior.
        From a ``gmm`` (transform "residual"): g_a, g_s, the prior and the gains."""
        done = self.copy_parts_from(other, ("g_a", "g_s", "entropy_bottleneck", "gains"))
        # h_a / h_s: the same layers with a VSS block inserted after the first activation
        for name in ("h_a", "h_s"):
            mine, theirs = getattr(self, name), getattr(other, name, None)
            if not isinstance(theirs, nn.Sequential) or len(theirs) != 5:
                continue
            pairs = [(mine[i], theirs[j]) for i, j in ((0, 0), (3, 2), (5, 4))]
            if all(type(a) is type(b) and a.weight.shape == b.weight.shape for a, b in pairs):
                for a, b in pairs:
                    a.load_state_dict(b.state_dict())
                done.append(name)
        self.refresh_hash()
        return done

    # ---- the parameter path, shared by the float simulation and the exact integers ----------
    def _slice(self, y: Tensor, s: int) -> Tensor:
        return y[:, s * self.Ms:(s + 1) * self.Ms]

    def _contexts(self, s: int, feats: Tensor, decoded: Tensor | None, exact: bool) -> Tensor:
        """Hyper features and the channel context of slice s ([B, 2M + context, h, w]); decoded:
        slices 0..s-1 (float latents; ignored for s = 0). exact: int64 Q10 in and out."""
        b, _, h, w = feats.shape
        if s == 0:
            ch = feats.new_zeros(b, self.context_channels, h, w)
        else:
            net = self.channel_context[s - 1]
            ch = net.forward_int(inet.to_fixed(decoded)) if exact else net.forward_sim(decoded)
        return torch.cat([feats, ch], 1)

    def _params(self, s: int, ctx: Tensor, base: Tensor, anchors: Tensor | None, exact: bool) -> tuple[Tensor, Tensor]:
        """Slice s's (scales, means): the hyper parameters `base` plus the context model's
        corrections. Floats (simulation), or (int32 scale indexes, int32 Q8 means) (exact: the
        Q12 scale and Q8 mean integers are added exactly). anchors: the slice's decoded anchors
        (zeros elsewhere), None in pass 1."""
        sp_net, p_net = self.spatial_context[s], self.parameters_net[s]
        b, _, h, w = ctx.shape
        if anchors is None:
            sp = ctx.new_zeros(b, 2 * self.Ms, h, w)
        else:
            sp = sp_net.forward_int(inet.to_fixed(anchors)) if exact else sp_net.forward_sim(anchors)
        d_scales, d_means = (p_net.forward_int if exact else p_net.forward_sim)(torch.cat([ctx, sp], 1)).chunk(2, 1)
        lo, hi = s * self.Ms, (s + 1) * self.Ms
        scales, means = base[:, lo:hi] + d_scales, base[:, self.M + lo:self.M + hi] + d_means
        if exact:
            return inet.scale_indexes(scales), means.clamp(-(1 << 30), 1 << 30).to(torch.int32)
        return scales, means

    def _hyper(self, z_hat: Tensor, exact: bool) -> tuple[Tensor, Tensor]:
        """(features, base): the hyper-synthesis output as Q10 features for the context model
        (real values in the simulation) and as the base parameters (Q12 scales and Q8 means when
        exact), each [B, 2M, h, w]."""
        lim = inet.ACT_LIMIT
        if not exact:
            out = self.h_s.forward_sim(z_hat)
            unit = float(1 << inet.ACT_FRAC)
            return out.clamp(-lim / unit, lim / unit), out
        out = self.h_s.forward_int(inet.to_fixed(z_hat))
        sc, mu = out[:, : self.M], out[:, self.M:]
        shift = inet.SCALE_FRAC - inet.ACT_FRAC
        feats = torch.cat([(sc + (1 << (shift - 1))) >> shift, mu << (inet.ACT_FRAC - inet.MEAN_FRAC)], 1)
        return feats.clamp(-lim, lim), out

    def _sim_path(self, y: Tensor, hyper: tuple[Tensor, Tensor], rounding) -> tuple[Tensor, Tensor, Tensor]:  # noqa: ANN001
        """Float simulation over all slices: (y_hat, scales, means), each [B, M, h, w].
        rounding(v, means) -> the quantised (or soft-rounded) latent."""
        mask = anchor_mask(*y.shape[-2:], device=y.device)
        hats, all_scales, all_means = [], [], []
        for s in range(self.S):
            ys = self._slice(y, s)
            ctx = self._contexts(s, hyper[0], torch.cat(hats, 1) if hats else None, exact=False)
            s1, m1 = self._params(s, ctx, hyper[1], None, exact=False)
            y_anchors = rounding(ys, m1)  # one draw: the anchors the context sees are the coded ones
            s2, m2 = self._params(s, ctx, hyper[1], y_anchors * mask, exact=False)
            scales, means = torch.where(mask, s1, s2), torch.where(mask, m1, m2)
            hats.append(torch.where(mask, y_anchors, rounding(ys, m2)))
            all_scales.append(scales)
            all_means.append(means)
        return torch.cat(hats, 1), torch.cat(all_scales, 1), torch.cat(all_means, 1)

    def _exact_path(self, y: Tensor | None, hyper: tuple[Tensor, Tensor], coder) -> Tensor:  # noqa: ANN001
        """The coder's path: for every slice and pass, exact parameters at the pass's positions,
        then coder(s, anchors, (rows, cols), ys_points or None, scale_idx, means_q) -> decoded
        values there.
        Returns y_hat [B, M, h, w]."""
        feats, base = hyper
        b, _, h, w = feats.shape
        sel = anchor_mask(h, w, feats.device)[0, 0]
        y_hat = feats.new_zeros(b, self.M, h, w, dtype=torch.float32)
        for s in range(self.S):
            ctx = self._contexts(s, feats, y_hat[:, : s * self.Ms] if s else None, exact=True)
            cur = y_hat[:, s * self.Ms:(s + 1) * self.Ms]
            for anchors in (True, False):
                r, c = torch.nonzero(sel if anchors else ~sel, as_tuple=True)
                idx, mq = self._params(s, ctx, base, None if anchors else cur * sel, exact=True)
                ys = None if y is None else self._slice(y, s)[:, :, r, c]
                cur[:, :, r, c] = coder(s, anchors, (r, c), ys, idx[:, :, r, c], mq[:, :, r, c])
        return y_hat

    @staticmethod
    def _section(s: int, anchors: bool) -> str:
        """Section name of slice s's pass: y<s>a (the anchors) or y<s>n (the others)."""
        return f"y{s}{'a' if anchors else 'n'}"

    # ---- the codec contract ---------------------------------------------------------------------
    def forward(self, x: Tensor, q: Tensor) -> dict:
        y = self.g_a(x) * self.gains.gain(q)
        z = self.h_a(y)
        z_hat, z_lik = self.entropy_bottleneck(z)
        gc = self.gaussian_conditional
        if self.training:
            hyper = self._hyper(z_hat, exact=False)
            y_hat, scales, means = self._sim_path(y, hyper, lambda v, m: quantize_train(v, self.synthesis_quantization, m))
            _, y_lik = gc(y, scales, means)
        else:  # exactly the coder's parameters
            lik = torch.empty_like(y)

            def measure(s, _anchors, pos, ys, idx, mq):  # noqa: ANN001, ANN202
                y_q, p = gc(ys, inet.scales_of_indexes(idx), inet.means_of_q8(mq), training=False)
                lik[:, s * self.Ms:(s + 1) * self.Ms, pos[0], pos[1]] = p
                return y_q

            y_hat = self._exact_path(y, self._hyper(z_hat, exact=True), measure)
            y_lik = lik
        return {"x_hat": self.synthesize(y_hat, q), "likelihoods": {"y": y_lik, "z": z_lik}}

    def analyze(self, x: Tensor, q: Tensor) -> dict[str, Tensor]:
        y = self.g_a(x) * self.gains.gain(q)
        return {"y": y, "z": self.h_a(y)}

    def compress_tensor(self, x: Tensor, q: Tensor) -> tuple[dict[str, bytes], Tensor]:
        return self.compress_latents(self.analyze(x, q), q)

    def compress_latents(self, latents: dict[str, Tensor], q: Tensor) -> tuple[dict[str, bytes], Tensor]:
        z_bytes, z_hat = self.entropy_bottleneck.compress(latents["z"])
        sections = {"z": z_bytes}

        def code(s, anchors, _pos, ys, idx, mq):  # noqa: ANN001, ANN202
            data, y_q = self.gaussian_conditional.compress_int(ys, idx, mq)
            sections[self._section(s, anchors)] = data
            return y_q

        y_hat = self._exact_path(latents["y"], self._hyper(z_hat, exact=True), code)
        return sections, y_hat

    def decompress_tensor(self, sections: dict[str, bytes], q: Tensor, size: tuple[int, int]) -> Tensor:
        zh, zw = latent_size(size, 64)
        z_hat = self.entropy_bottleneck.decompress(section_bytes("z", sections), (1, self.N, zh, zw))

        def decode(s, anchors, _pos, _ys, idx, mq):  # noqa: ANN001, ANN202
            return self.gaussian_conditional.decompress_int(section_bytes(self._section(s, anchors), sections), idx, mq)

        return self._exact_path(None, self._hyper(z_hat, exact=True), decode)

    def relaxed(self, latents: dict[str, Tensor], q: Tensor, tau: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        eb, gc = self.entropy_bottleneck, self.gaussian_conditional
        z = latents["z"]
        z_s = sga_round(z, eb._medians_like(z), tau, generator)
        hyper = self._hyper(z_s, exact=False)
        y_s, scales, means = self._sim_path(latents["y"], hyper, lambda v, m: sga_round(v, m, tau, generator))
        bits = -torch.log2(eb.likelihood_at(z_s)).sum() - torch.log2(gc.likelihood(y_s, scales, means)).sum()
        return self.synthesize(y_s, q), bits
