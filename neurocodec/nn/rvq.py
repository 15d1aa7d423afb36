"""Residual vector quantisers with factorised codes (DAC) and multi-scale levels (SNAC).

A stage projects the residual [B, D, T] to a small code space (``code_dim``, 8 in DAC), looks
the L2-normalised vector up among the L2-normalised codebook entries (cosine similarity) and
projects the raw entry back to D. Training uses straight-through gradients, a codebook loss
||sg(z_e) - c||^2 and a commitment loss ||z_e - sg(c)||^2 on the raw vectors (DAC's recipe:
the commitment term is what bounds the encoder's scale; with both losses on normalised vectors
the latent drifted to norms of ~10^3 in 400 CPU steps and every stage collapsed onto a handful
of entries, because steps orthogonal to a vector only ever grow its norm). Entries start
random; entries unused for a while are restarted from current vectors (which is how the
codebooks are set from data).

Multi-scale (SNAC): stage i works at ``strides[i]`` frames per code: the residual is averaged
over each block of that many frames, quantised, and repeated back to the frame rate.

:meth:`ResidualVQ.search` is the encoder's test-time code search: a beam over stages ranked by
the latent error ||z - sum of stage outputs||^2 (see its docstring).
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from neurocodec.nn.audio import wn_conv


class FactorizedVQ(nn.Module):
    """One stage: D -> code_dim projection, cosine lookup in `size` entries, code_dim -> D."""

    def __init__(self, dim: int, size: int = 1024, code_dim: int = 8, restart_every: int = 50) -> None:
        super().__init__()
        self.size, self.code_dim, self.restart_every = size, code_dim, restart_every
        self.in_proj = wn_conv(dim, code_dim, 1)
        self.out_proj = wn_conv(code_dim, dim, 1)
        self.codebook = nn.Embedding(size, code_dim)
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))
        self.register_buffer("usage", torch.ones(size))
        self._calls = 0

    def project(self, r: Tensor) -> Tensor:
        """[B, D, T] -> [B, code_dim, T]."""
        return self.in_proj(r)

    def lookup(self, ze: Tensor) -> Tensor:
        """Nearest entry by cosine: [B, code_dim, T] -> indices [B, T] (int64)."""
        enc = F.normalize(ze.transpose(1, 2), dim=-1)
        cb = F.normalize(self.codebook.weight, dim=-1)
        return (enc @ cb.t()).argmax(-1)

    def entries(self) -> Tensor:
        """The codebook entries a stage outputs [size, code_dim]."""
        return self.codebook.weight

    def embed(self, idx: Tensor) -> Tensor:
        """Indices [B, T] -> stage output [B, D, T]."""
        return self.out_proj(F.embedding(idx, self.entries()).transpose(1, 2))

    @torch.no_grad()
    def _maintain(self, ze: Tensor, idx: Tensor) -> None:
        """Restart entries unused for a while from current vectors (times 1 + 5 % noise). Entries
        start random; the first restarts, after `restart_every` calls, set every entry not yet
        used from data, when the encoder's outputs are no longer the near-identical vectors of
        an untrained network (a codebook set from the first batch collapsed onto a few
        entries)."""
        vec = ze.transpose(1, 2).reshape(-1, self.code_dim)
        counts = torch.bincount(idx.reshape(-1), minlength=self.size).float()
        total = torch.tensor([float(idx.numel())], device=counts.device)
        ddp = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if ddp:  # usage over every rank's batch, so every rank restarts the same entries
            both = torch.cat([counts, total])
            dist.all_reduce(both)
            counts, total = both[:-1], both[-1:]
        self.usage.mul_(0.95).add_(counts * (0.05 * self.size / total.clamp_min(1)))
        self._calls += 1
        if self._calls % self.restart_every == 0:
            dead = torch.nonzero(self.usage < 0.03).flatten()
            if len(dead):
                pick = torch.randint(len(vec), (len(dead),), device=vec.device)
                new = vec[pick] * (1 + 0.05 * torch.randn_like(vec[pick]))
                if ddp:  # rank 0's vectors on every rank: the codebooks stay identical
                    dist.broadcast(new, 0)
                self.codebook.weight[dead] = new
                self.usage[dead] = 1.0
            self.initialised.fill_(True)

    def forward(self, r: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """r [B, D, T] -> (output [B, D, T] straight-through, indices [B, T], commitment [B],
        codebook loss [B])."""
        ze = self.project(r)
        if self.training:
            self._maintain(ze.detach(), self.lookup(ze.detach()))
        idx = self.lookup(ze)
        zq = F.embedding(idx, self.entries()).transpose(1, 2)
        commit = F.mse_loss(ze, zq.detach(), reduction="none").mean((1, 2))
        cbl = F.mse_loss(zq, ze.detach(), reduction="none").mean((1, 2))
        zq = ze + (zq - ze).detach()
        return self.out_proj(zq), idx, commit, cbl


def _pool(x: Tensor, s: int) -> Tensor:
    """Mean over blocks of s frames: [B, D, T] -> [B, D, ceil(T / s)] (the last block is the
    mean of the frames it has)."""
    if s == 1:
        return x
    t = x.shape[-1]
    n = math.ceil(t / s)
    pad = n * s - t
    xs = F.pad(x, (0, pad)).view(*x.shape[:-1], n, s).sum(-1)
    count = torch.full((n,), float(s), device=x.device, dtype=x.dtype)
    count[-1] = s - pad
    return xs / count


def _repeat(x: Tensor, s: int, t: int) -> Tensor:
    return x if s == 1 else x.repeat_interleave(s, dim=-1)[..., :t]


class ResidualVQ(nn.Module):
    """`n_q` factorised stages, stage i at `strides[i]` frames per code (all 1 for DAC).

    Quantiser dropout (training): with probability `dropout` a batch item uses only its first
    n ~ U{1..n_q} stages, so one model serves every bitrate.
    """

    def __init__(self, dim: int, n_q: int, size: int = 1024, code_dim: int = 8,
                 strides: tuple[int, ...] | None = None, dropout: float = 0.5) -> None:
        super().__init__()
        self.strides = tuple(strides) if strides else (1,) * n_q
        if len(self.strides) != n_q:
            raise ValueError("one stride per stage")
        self.n_q, self.size, self.dropout = n_q, size, dropout
        self.stages = nn.ModuleList(FactorizedVQ(dim, size, code_dim) for _ in range(n_q))

    @property
    def unit(self) -> int:
        """Frames per coding unit (the coarsest stride): code counts are exact per unit."""
        return math.lcm(*self.strides)

    def code_lengths(self, frames: int) -> list[int]:
        return [math.ceil(frames / s) for s in self.strides]

    def forward(self, z: Tensor, n: Tensor | int | None = None) -> dict[str, Tensor | list[Tensor]]:
        """z [B, D, T] -> {"z_q", "codes" (list of [B, T_i]), "commitment" [B], "codebook" [B]}.
        n: stages to use (int or [B]); None draws them (quantiser dropout) in training."""
        b, _, t = z.shape
        if n is None:
            n_b = torch.full((b,), self.n_q, device=z.device)
            if self.training and self.dropout > 0:
                drop = torch.rand(b, device=z.device) < self.dropout
                n_b = torch.where(drop, torch.randint(1, self.n_q + 1, (b,), device=z.device), n_b)
        else:
            n_b = torch.as_tensor(n, device=z.device).expand(b)
        zq = torch.zeros_like(z)
        res = z
        commit = z.new_zeros(b)
        cbl = z.new_zeros(b)
        codes = []
        for i, (stage, s) in enumerate(zip(self.stages, self.strides)):
            mask = (i < n_b).to(z.dtype)  # every stage runs (same graph and collectives on every DDP rank)
            out, idx, c1, c2 = stage(_pool(res, s))
            out = _repeat(out, s, t)
            zq = zq + out * mask[:, None, None]
            res = res - out
            commit = commit + c1 * mask
            cbl = cbl + c2 * mask
            codes.append(idx)
        return {"z_q": zq, "codes": codes, "commitment": commit, "codebook": cbl}

    @torch.no_grad()
    def encode(self, z: Tensor, n: int) -> list[Tensor]:
        """Greedy codes of the first n stages: list of int64 [B, T_i]."""
        t = z.shape[-1]
        res = z
        codes = []
        for stage, s in zip(self.stages[:n], self.strides[:n]):
            idx = stage.lookup(stage.project(_pool(res, s)))
            res = res - _repeat(stage.embed(idx), s, t)
            codes.append(idx)
        return codes

    @torch.no_grad()
    def decode(self, codes: list[Tensor], frames: int) -> Tensor:
        """Sum of the stage outputs: [B, D, frames]."""
        zq = None
        for stage, s, idx in zip(self.stages, self.strides, codes):
            out = _repeat(stage.embed(idx), s, frames)
            zq = out if zq is None else zq + out
        return zq

    @torch.no_grad()
    def latent_error(self, z: Tensor, codes: list[Tensor]) -> Tensor:
        """||z - decode(codes)||^2 per unit of frames: [B, ceil(T / unit)]."""
        e = (z - self.decode(codes, z.shape[-1])).pow(2).sum(1)
        return _pool(e, self.unit) * self.unit

    @torch.no_grad()
    def search(self, z: Tensor, n: int, beam: int) -> list[Tensor]:
        """Codes of the first n stages by beam search over stages; beam=1 is :meth:`encode`.

        Each unit of frames (the coarsest stride) keeps `beam` partial code sequences. At stage i
        every block of `strides[i]` frames takes its `beam` nearest entries (cosine, as greedy
        does); a sequence extends to its all-nearest choice and to each variant where one block
        takes another of its entries, and the `beam` extensions with the lowest latent error
        ||z - sum of outputs||^2 over the unit survive. The result is compared per unit with the
        greedy codes and the better one is kept, so it is never worse than greedy on any unit.
        """
        greedy = self.encode(z, n)
        if beam <= 1:
            return greedy
        bsz, d, t = z.shape
        u = self.unit
        m = math.ceil(t / u)
        zu = F.pad(z, (0, m * u - t)).view(bsz, d, m, u).permute(0, 2, 3, 1).reshape(bsz * m, u, d)
        valid = (torch.arange(m * u, device=z.device) < t).view(m, u).repeat(bsz, 1).to(z.dtype)  # [M, u]
        mm = zu.shape[0]
        sums = z.new_zeros(mm, 1, u, d)
        seqs: list[Tensor] = []  # per stage [M, b, k_i]
        for stage, s in zip(self.stages[:n], self.strides[:n]):
            k = u // s
            b = sums.shape[1]
            r = (zu[:, None] - sums) * valid[:, None, :, None]  # [M, b, u, d]
            cnt = valid.view(mm, 1, k, s).sum(-1).clamp_min(1)  # frames per block [M, 1, k]
            rsum = r.view(mm, b, k, s, d).sum(3)  # [M, b, k, d]
            w_in = stage.in_proj.weight[:, :, 0]
            ze = (rsum / cnt[..., None]) @ w_in.t() + stage.in_proj.bias
            cb = stage.entries()
            sims = F.normalize(ze, dim=-1) @ F.normalize(cb, dim=-1).t()  # [M, b, k, K]
            top = sims.topk(min(beam, cb.shape[0]), dim=-1).indices  # [M, b, k, B]
            w_out = stage.out_proj.weight[:, :, 0]
            outs = cb[top] @ w_out.t() + stage.out_proj.bias  # [M, b, k, B, d]
            # error of block j with entry r: sum_t ||R_t - o||^2 = const - 2 o.sum(R) + cnt ||o||^2
            e = -2 * (outs * rsum[:, :, :, None]).sum(-1) + cnt[..., None] * outs.pow(2).sum(-1)  # [M, b, k, B]
            base = e[..., 0].sum(-1) + r.pow(2).sum((2, 3))  # [M, b]
            nb = top.shape[-1]
            var = base[:, :, None, None] - e[..., :1] + e[..., 1:]  # [M, b, k, B-1]
            cand = torch.cat([base[:, :, None], var.reshape(mm, b, -1)], -1)  # [M, b, 1 + k(B-1)]
            best = cand.reshape(mm, -1).topk(min(beam, cand[0].numel()), largest=False).indices
            bi = best // cand.shape[-1]
            ci = best % cand.shape[-1]
            choice = torch.zeros(mm, best.shape[1], k, dtype=torch.long, device=z.device)
            vj = ((ci - 1).clamp_min(0)) // max(1, nb - 1)
            vr = ((ci - 1).clamp_min(0)) % max(1, nb - 1) + 1
            is_var = ci > 0
            choice[is_var, vj[is_var]] = vr[is_var]
            rows = torch.arange(mm, device=z.device)[:, None]
            codes = top[rows, bi].gather(-1, choice[..., None]).squeeze(-1)  # [M, b', k]
            picked = outs[rows, bi].gather(3, choice[..., None, None].expand(-1, -1, -1, 1, d)).squeeze(3)  # [M,b',k,d]
            sums = sums[rows, bi] + picked.repeat_interleave(s, dim=2)
            seqs = [q[rows, bi] for q in seqs] + [codes]
        # best sequence per unit, back to [B, T_i] per stage
        out = []
        for q, s in zip(seqs, self.strides[:n]):
            k = u // s
            out.append(q[:, 0].reshape(bsz, m * k)[:, : math.ceil(t / s)])
        better = self.latent_error(z, out) < self.latent_error(z, greedy)  # [B, M]
        final = []
        for qb, qg, s in zip(out, greedy, self.strides[:n]):
            k = u // s
            sel = better.repeat_interleave(k, dim=1)[:, : qg.shape[1]]
            final.append(torch.where(sel, qb, qg))
        return final
