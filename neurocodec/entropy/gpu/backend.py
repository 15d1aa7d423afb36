"""Host side of the GPU entropy backend: stream layout, lane planning, kernel launches.

The stream format is the one of ``csrc/lanes.h`` (the specification)::

    u8 version (=1) | u8 model tag | varint N | varint L | L x varint lane byte length
    | lane 0 bytes | ... | lane L-1 bytes        (lane: u32 final state, 16-bit words)

Headers are built and parsed here with numpy (they are small); lane data is made and consumed
on the device by the kernels of :mod:`.kernels`. A batch of streams is grouped by model kind
(table / parametric family / mixture family and K) and each group is coded in one launch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from neurocodec.entropy import _core
from neurocodec.entropy.models import EntropyModel, MixtureModel, ParametricModel, TableModel, tables
from neurocodec.errors import CorruptStreamError

STREAM_VERSION = 1
MAX_LANES = 1 << 20
MAX_AUTO_LANES = 4096
AUTO_SAMPLE = 4096
MAX_SYMBOLS = 1 << 40
PROB_SCALE = 1 << 16
_U64 = (1 << 64) - 1

#: lanes per Triton program (one warp on a GPU: block-wide loop bounds are warp-uniform)
BLOCK = 32
NUM_WARPS = 1

#: counters for tests and benchmarks (encoder re-runs after a word-buffer overflow)
STATS = {"encode_retries": 0}

_ERRORS = {
    1: "entropy stream truncated (lane ran out of words)",
    2: "entropy stream: invalid escape length",
    3: "entropy stream: escape out of range",
    4: "entropy stream corrupt (lane did not end in its initial state)",
    5: "entropy stream: invalid lane state",
}


def interpreting() -> bool:
    """True when Triton runs kernels in its interpreter (``TRITON_INTERPRET=1``)."""
    from triton import knobs

    return bool(knobs.runtime.interpret)


def resolve_device(model: EntropyModel, device: str | torch.device | None) -> torch.device:
    """The device the kernels run on: `device`, else the model's CUDA device, else "cuda".

    CPU tensors are accepted only under the Triton interpreter.
    """
    if device is not None:
        dev = torch.device(device)
    elif model.device.type == "cuda" or interpreting():
        dev = model.device
    else:
        dev = torch.device("cuda")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("the GPU entropy backend needs a CUDA device (none is available)")
    elif not interpreting():
        raise ValueError(f"the GPU entropy backend runs on CUDA devices, not {dev} "
                         "(CPU tensors only under TRITON_INTERPRET=1)")
    return dev


_CONST_CACHE: dict[str, tuple[Tensor, Tensor, Tensor]] = {}


def _constants(dev: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Family CDF table (Q30), inverse scales (Q24) and half-widths as int32 on `dev`."""
    key = str(dev)
    if key not in _CONST_CACHE:
        t = tables()
        ftab = torch.from_numpy(t["cdf_q30"].astype(np.int32).reshape(-1)).to(dev)
        inv = torch.from_numpy(t["inv_scale_q24"].astype(np.int32)).to(dev)
        hw = torch.from_numpy(t["half_width"].astype(np.int32).reshape(-1)).to(dev)
        _CONST_CACHE[key] = (ftab, inv, hw)
    return _CONST_CACHE[key]


# ---- varints ---------------------------------------------------------------------------------


def put_varint(out: bytearray, v: int) -> None:
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def varints(vals: np.ndarray) -> bytes:
    """LEB128 of every value of a uint64 array, concatenated (vectorised)."""
    v = np.asarray(vals, dtype=np.uint64)
    if v.size == 0:
        return b""
    groups = np.stack([(v >> np.uint64(7 * q)) & np.uint64(0x7F) for q in range(10)], 1).astype(np.uint8)
    nbytes = np.ones(v.size, np.int64)
    for q in range(1, 10):
        nbytes += (v >> np.uint64(7 * q)) != 0
    col = np.arange(10)[None, :]
    groups |= np.where(col < nbytes[:, None] - 1, 0x80, 0).astype(np.uint8)
    return groups[col < nbytes[:, None]].tobytes()


def get_varint(data: bytes, pos: int, limit: int, what: str) -> tuple[int, int]:
    v = 0
    for shift in range(0, 64, 7):
        if pos >= len(data):
            raise CorruptStreamError(f"entropy stream truncated in {what}")
        b = data[pos]
        pos += 1
        if shift == 63 and b & 0x7E:  # as the C++ reader: no silent wrap-around
            raise CorruptStreamError(f"entropy stream: varint overflow in {what}")
        v = (v | ((b & 0x7F) << shift)) & _U64
        if not b & 0x80:
            if v > limit:
                raise CorruptStreamError(f"entropy stream: implausible {what}")
            return v, pos
    raise CorruptStreamError(f"entropy stream: malformed varint in {what}")


def _lane_lengths(data: bytes, pos: int, count: int) -> tuple[np.ndarray, int]:
    """`count` varints from data[pos:] (vectorised get_varint with limit len(data))."""
    if count == 0:
        return np.zeros(0, np.uint64), pos
    size = len(data)
    seg = np.frombuffer(data, np.uint8, count=min(size - pos, 10 * count), offset=pos)
    term = np.flatnonzero(seg < 0x80)
    starts = np.concatenate([[0], term[:-1] + 1]) if term.size else np.zeros(0, np.int64)
    if term.size and (term - starts + 1 > 10).any() and np.argmax(term - starts + 1 > 10) < count:
        raise CorruptStreamError("entropy stream: malformed varint in lane length")
    if term.size < count:
        if seg.size - (term[-1] + 1 if term.size else 0) >= 10:
            raise CorruptStreamError("entropy stream: malformed varint in lane length")
        raise CorruptStreamError("entropy stream truncated in lane length")
    term, starts = term[:count], starts[:count]
    nb = term - starts + 1
    if ((nb == 10) & (seg[term] > 1)).any():
        raise CorruptStreamError("entropy stream: varint overflow in lane length")
    used = seg[: term[-1] + 1]
    q = np.arange(used.size) - np.repeat(starts, nb)
    contrib = (used & 0x7F).astype(np.uint64) << (7 * q).astype(np.uint64)
    vals = np.add.reduceat(contrib, starts)
    if (vals > np.uint64(size)).any():
        raise CorruptStreamError("entropy stream: implausible lane length")
    return vals, pos + int(term[-1]) + 1


def model_tag(model: EntropyModel) -> int:
    if isinstance(model, TableModel):
        return 0x10
    if isinstance(model, ParametricModel):
        return 0x20 | int(model.family)
    if isinstance(model, MixtureModel):
        return 0x40 | (int(model.family) << 3) | (model.k - 1)
    raise TypeError(f"not an entropy model: {type(model).__name__}")


@dataclass
class Header:
    n: int
    lanes: int
    lane_bytes: np.ndarray  # uint64 [L]
    data_pos: int  # where lane 0 starts


def parse_header(data: bytes, tag: int, n: int) -> Header:
    """The checks of lanes.h decode_stream, in its order, before anything is allocated."""
    size = len(data)
    if size < 2:
        raise CorruptStreamError("entropy stream truncated (no header)")
    if data[0] != STREAM_VERSION:
        raise CorruptStreamError(f"unsupported entropy stream version {data[0]}")
    if data[1] != tag:
        raise CorruptStreamError("entropy stream was coded with another kind of model")
    sn, pos = get_varint(data, 2, MAX_SYMBOLS, "symbol count")
    if sn != n:
        raise CorruptStreamError(f"entropy stream holds {sn} symbols, model expects {n}")
    L, pos = get_varint(data, pos, min(n, MAX_LANES), "lane count")
    if n > 0 and L == 0:
        raise CorruptStreamError("entropy stream has no lanes")
    if L * 5 > size - pos:
        raise CorruptStreamError("entropy stream truncated (lane table)")
    lens, pos = _lane_lengths(data, pos, L)
    if ((lens < 4) | ((lens & np.uint64(1)) != 0)).any():
        raise CorruptStreamError("entropy stream: malformed lane length")
    total = int(lens.sum(dtype=np.uint64)) if L else 0
    if total > size:
        raise CorruptStreamError("entropy stream truncated (lane data)")
    if pos + total != size:
        raise CorruptStreamError("entropy stream truncated (lane data)" if pos + total > size
                                 else "entropy stream has trailing bytes")
    return Header(n, L, lens, pos)


# ---- models as flat device tensors -----------------------------------------------------------


def _flat_i32(t: Tensor, dev: torch.device) -> Tensor:
    return t.to(dev, torch.int32).contiguous()


def group_key(model: EntropyModel) -> tuple[int, int, int]:
    """(KIND, FAMILY, K) of the kernels that code `model`."""
    if isinstance(model, TableModel):
        return (0, 0, 1)
    if isinstance(model, ParametricModel):
        return (1, int(model.family), 1)
    if isinstance(model, MixtureModel):
        return (2, int(model.family), model.k)
    raise TypeError(f"not an entropy model: {type(model).__name__}")


def symbol_count(model: EntropyModel) -> int:
    return int(math.prod(model.shape))


def validate(models: Sequence[EntropyModel], dev: torch.device) -> None:
    """The checks of models.h (validate() and get(i)) on the device: ValueError when invalid."""
    checks: list[tuple[Tensor, str]] = []
    for m in models:
        n = symbol_count(m)
        if isinstance(m, TableModel):
            cdfs = m.cdfs.to(dev, torch.int64)
            T, S = cdfs.shape
            if T < 1:
                raise ValueError("table model needs at least one table")
            lens = m.lengths.to(dev, torch.int64)
            if lens.numel() != T or m.offsets.numel() != T:
                raise ValueError("lengths and offsets need one entry per table")
            checks.append((((lens < 1) | (lens + 1 > S)).any(), f"table length outside [1, {S - 1}]"))
            checks.append(((cdfs[:, 0] != 0).any(), "table: cdf[0] must be 0"))
            col = torch.arange(S - 1, device=dev)[None, :]
            inc = (cdfs[:, 1:] <= cdfs[:, :-1]) & (col < lens[:, None])
            checks.append((inc.any(), "table: cdf must be strictly increasing"))
            last = cdfs.gather(1, lens.clamp(0, S - 1)[:, None])
            checks.append(((last > PROB_SCALE - 1).any(), "table: escape needs cdf[n] <= 65535"))
            if n:
                idx = m.indexes.reshape(-1).to(dev, torch.int64)
                checks.append((((idx < 0) | (idx >= T)).any(), "table index out of range"))
        elif isinstance(m, ParametricModel):
            if n:
                s = m.scale_idx.to(dev)
                checks.append((((s < 0) | (s > 255)).any(), "scale index out of range [0, 255]"))
        elif isinstance(m, MixtureModel):
            if n:
                w = m.weights_q.to(dev, torch.int64)
                s = m.scale_idx.to(dev)
                checks.append(((w < 0).any(), "mixture weights must be >= 0"))
                checks.append((((s < 0) | (s > 255)).any(), "scale index out of range [0, 255]"))
                checks.append(((w.sum(-1) != PROB_SCALE).any(), "mixture weights must sum to 65536"))
        else:
            raise TypeError(f"not an entropy model: {type(m).__name__}")
    if checks:
        flags = torch.stack([c for c, _ in checks]).cpu().tolist()
        for bad, (_, msg) in zip(flags, checks):
            if bad:
                raise ValueError(msg)


@dataclass
class Group:
    """Streams of one model kind, concatenated: what one kernel launch codes."""

    key: tuple[int, int, int]
    members: list[int]  # positions in the batch
    n: list[int]
    sym_base: list[int]
    index: Tensor | None = None
    cdfs: Tensor | None = None
    lengths: Tensor | None = None
    offsets: Tensor | None = None
    mean: Tensor | None = None
    scale: Tensor | None = None
    weight: Tensor | None = None
    symbols: Tensor | None = None
    lanes: list[int] = field(default_factory=list)


def make_groups(models: Sequence[EntropyModel], dev: torch.device) -> list[Group]:
    """Group a batch by kernel kind and concatenate each group's parameters on `dev`."""
    by_key: dict[tuple[int, int, int], list[int]] = {}
    for i, m in enumerate(models):
        by_key.setdefault(group_key(m), []).append(i)
    groups = []
    for key, members in by_key.items():
        ns = [symbol_count(models[i]) for i in members]
        bases = np.concatenate([[0], np.cumsum(ns)[:-1]]).astype(np.int64).tolist() if ns else []
        g = Group(key, members, ns, bases)
        ms = [models[i] for i in members]
        if key[0] == 0:
            # tables: one padded table set; models sharing a cdfs tensor share rows
            rows, cdf_list, len_list, off_list, idx_list = {}, [], [], [], []
            width = max(int(m.cdfs.shape[1]) for m in ms)
            nrows = 0
            for m in ms:
                ident = (id(m.cdfs), id(m.lengths), id(m.offsets))
                if ident not in rows:
                    rows[ident] = nrows
                    c = _flat_i32(m.cdfs, dev)
                    cdf_list.append(torch.nn.functional.pad(c, (0, width - c.shape[1])))
                    len_list.append(_flat_i32(m.lengths, dev).reshape(-1))
                    off_list.append(_flat_i32(m.offsets, dev).reshape(-1))
                    nrows += int(m.cdfs.shape[0])
                idx_list.append(_flat_i32(m.indexes, dev).reshape(-1) + rows[ident])
            g.cdfs = torch.cat(cdf_list).contiguous()
            g.lengths = torch.cat(len_list)
            g.offsets = torch.cat(off_list)
            g.index = torch.cat(idx_list)
        elif key[0] == 1:
            g.mean = torch.cat([_flat_i32(m.means_q, dev).reshape(-1) for m in ms])
            g.scale = torch.cat([_flat_i32(m.scale_idx, dev).reshape(-1) for m in ms])
        else:
            k = key[2]
            g.mean = torch.cat([_flat_i32(m.means_q, dev).reshape(-1, k) for m in ms]).contiguous()
            g.scale = torch.cat([_flat_i32(m.scale_idx, dev).reshape(-1, k) for m in ms]).contiguous()
            g.weight = torch.cat([_flat_i32(m.weights_q, dev).reshape(-1, k) for m in ms]).contiguous()
        groups.append(g)
    return groups


# ---- lane count (lanes.h auto_lanes) ---------------------------------------------------------


def _approx_cost_q8(freq: np.ndarray) -> np.ndarray:
    f = freq.astype(np.int64)
    e = np.frexp(f.astype(np.float64))[1].astype(np.int64) - 1  # floor(log2 f), exact
    mant = ((f - (np.int64(1) << e)) << 8) >> e
    return (16 << 8) - ((e << 8) + mant)


def auto_lanes(group: Group, which: Sequence[int], lane_bytes: Sequence[int]) -> dict[int, int]:
    """The CPU's lane count for members `which` of `group`: the same integer estimate from a
    sample of 4096 symbols (costed by the CPU core on the sampled parameters)."""
    kind, family, k = group.key
    idx_parts, spans = [], []
    dev = group.symbols.device
    for w in which:
        n = group.n[w]
        S = min(n, AUTO_SAMPLE)
        idx = torch.arange(S, dtype=torch.int64, device=dev) * n // max(S, 1) + group.sym_base[w]
        spans.append((sum(p.numel() for p in idx_parts), S))
        idx_parts.append(idx)
    if not idx_parts:
        return {}
    idx = torch.cat(idx_parts)
    sym = group.symbols[idx].cpu().numpy()
    if kind == 0:
        sub = (group.index[idx].cpu().numpy(), group.cdfs.cpu().numpy(), group.lengths.cpu().numpy(),
               group.offsets.cpu().numpy())
    elif kind == 1:
        sub = (family, group.mean[idx].cpu().numpy(), group.scale[idx].cpu().numpy())
    else:
        sub = (family, group.mean[idx].cpu().numpy(), group.scale[idx].cpu().numpy(),
               group.weight[idx].cpu().numpy())
    out = {}
    for w, (a, S), target in zip(which, spans, lane_bytes):
        n = group.n[w]
        if n == 0:
            out[w] = 0
            continue
        sl = slice(a, a + S)
        args = (sub[0][sl], *sub[1:]) if kind == 0 else (family, *(p[sl] for p in sub[1:]))
        freq, extra = getattr(_core, ["costs_table", "costs_param", "costs_mixture"][kind])(sym[sl], *args)
        cost = int(_approx_cost_q8(freq).sum()) + 256 * int(extra.astype(np.int64).sum())
        est = (((cost * n) & _U64) // S) // (8 * 256)
        L = est // max(int(target), 1)
        out[w] = max(1, min(L, n, MAX_AUTO_LANES))
    return out


# ---- lane tables -----------------------------------------------------------------------------


@dataclass
class LaneTable:
    """Per-lane kernel arguments of a group (global lane order: stream by stream)."""

    base: Tensor  # int64 symbol base of the lane's stream
    j: Tensor  # int32 lane index in its stream
    L: Tensor  # int32 lanes of its stream
    n: Tensor  # int64 symbols of its stream
    count: np.ndarray  # int64 symbols per lane (host)
    stream_first: list[int]  # first global lane of each member

    @property
    def size(self) -> int:
        return int(self.count.size)


def lane_table(group: Group, lanes: Sequence[int], dev: torch.device) -> LaneTable:
    Ls = np.asarray(lanes, np.int64)
    ns = np.asarray(group.n, np.int64)
    total = int(Ls.sum())
    owner = np.repeat(np.arange(len(Ls)), Ls)
    first = np.concatenate([[0], np.cumsum(Ls)[:-1]]).astype(np.int64)
    j = np.arange(total, dtype=np.int64) - first[owner]
    L = Ls[owner]
    n = ns[owner]
    base = np.asarray(group.sym_base, np.int64)[owner]
    count = np.where(j < n, (n - j + L - 1) // np.maximum(L, 1), 0)
    t = lambda a, dt: torch.from_numpy(np.ascontiguousarray(a)).to(dev, dt)  # noqa: E731
    return LaneTable(t(base, torch.int64), t(j, torch.int32), t(L, torch.int32), t(n, torch.int64),
                     count, first.tolist())


def _block_max(values: np.ndarray, block: int) -> np.ndarray:
    pad = (-values.size) % block
    v = np.concatenate([values, np.zeros(pad, values.dtype)]) if pad else values
    return v.reshape(-1, block).max(1) if v.size else np.zeros(0, values.dtype)


def _kernel_models(group: Group, dev: torch.device) -> tuple:
    dummy = torch.zeros(1, dtype=torch.int32, device=dev)
    kind = group.key[0]
    if kind == 0:
        stride = int(group.cdfs.shape[1])
        return (group.index, group.cdfs, stride, group.lengths, group.offsets, dummy, dummy, dummy)
    return (dummy, dummy, 1, dummy, dummy, group.mean, group.scale,
            group.weight if kind == 2 else dummy)


def _consts(group: Group) -> dict:
    kind, family, k = group.key
    return dict(KIND=kind, FAMILY=family, K=k, KP=max(1, 1 << (k - 1).bit_length()) if kind == 2 else 1)


# ---- encode ----------------------------------------------------------------------------------


@dataclass
class EncodedLanes:
    """Lane data of a group on the device, in stream layout, and the per-lane byte lengths."""

    data: Tensor  # int16 units, all members' lane data back to back
    lane_bytes: np.ndarray  # int64 [lanes]
    lanes: LaneTable


def encode_group(group: Group, lanes: Sequence[int], dev: torch.device, block: int = BLOCK,
                 num_warps: int = NUM_WARPS, slack: int = 8) -> EncodedLanes:
    """Run the encode and compaction kernels for one group (lane counts given)."""
    from neurocodec.entropy.gpu import kernels

    lt = lane_table(group, lanes, dev)
    G = lt.size
    if G == 0:
        return EncodedLanes(torch.zeros(0, dtype=torch.int16, device=dev), np.zeros(0, np.int64), lt)
    ftab, inv, hw = _constants(dev)
    grid = (triton_cdiv(G, block),)
    caps = _block_max(lt.count, block) + slack
    counts = torch.empty(G, dtype=torch.int32, device=dev)
    states = torch.empty(G, dtype=torch.int64, device=dev)
    for _attempt in range(2):
        buf_base = np.concatenate([[0], np.cumsum(caps * block)[:-1]]).astype(np.int64)
        buf = torch.empty(int((caps * block).sum()), dtype=torch.int16, device=dev)
        kernels.encode_kernel[grid](
            group.symbols, lt.base, lt.j, lt.L, lt.n, G,
            buf, torch.from_numpy(buf_base).to(dev), torch.from_numpy(caps.astype(np.int32)).to(dev),
            counts, states, *_kernel_models(group, dev), ftab, inv, hw,
            **_consts(group), BLOCK=block, num_warps=num_warps)
        cnt = counts.cpu().numpy().astype(np.int64)
        need = _block_max(cnt, block)
        if (need <= caps).all():
            break
        STATS["encode_retries"] += 1
        caps = need  # escapes emitted more words than planned: the exact counts are known now
    else:  # pragma: no cover - the second run has exactly the room it needs
        raise RuntimeError("GPU rANS encoder: word buffer overflow")
    units = 2 + cnt
    out_off = np.concatenate([[0], np.cumsum(units)[:-1]]).astype(np.int64)
    out = torch.empty(int(units.sum()), dtype=torch.int16, device=dev)
    kernels.compact_kernel[grid](buf, torch.from_numpy(buf_base).to(dev), counts, states, out,
                                 torch.from_numpy(out_off).to(dev), G, BLOCK=block,
                                 num_warps=num_warps)
    return EncodedLanes(out, 2 * units, lt)


def triton_cdiv(a: int, b: int) -> int:
    return (a + b - 1) // b


def stream_bytes(tag: int, n: int, lane_bytes: np.ndarray, data: np.ndarray) -> bytes:
    """Header + lane data (uint8 numpy) of one stream."""
    head = bytearray([STREAM_VERSION, tag])
    put_varint(head, n)
    put_varint(head, int(lane_bytes.size))
    return bytes(head) + varints(lane_bytes.astype(np.uint64)) + data.tobytes()


def prepare_encode(items: Sequence[tuple[Tensor | np.ndarray, EntropyModel]],
                   lanes: int | None | Sequence[int | None], lane_bytes: int | Sequence[int],
                   dev: torch.device) -> tuple[list[Group], list[list[int]]]:
    """Check inputs, move them to `dev`, group them and choose every stream's lane count."""
    models = [m for _, m in items]
    nitems = len(items)
    lanes_list = list(lanes) if isinstance(lanes, (list, tuple)) else [lanes] * nitems
    lb_list = list(lane_bytes) if isinstance(lane_bytes, (list, tuple)) else [lane_bytes] * nitems
    if len(lanes_list) != nitems or len(lb_list) != nitems:
        raise ValueError("lanes and lane_bytes need one entry per stream")
    for ln in lanes_list:
        if ln is not None and int(ln) < 1:
            raise ValueError("lanes must be >= 1")
        if ln is not None and int(ln) > MAX_LANES:
            raise ValueError("at most 2^20 lanes")
    validate(models, dev)
    groups = make_groups(models, dev)
    plan = []
    for g in groups:
        syms = []
        for i in g.members:
            syms.append(_symbols(items[i][0], models[i], dev))
        g.symbols = torch.cat(syms) if syms else torch.zeros(0, dtype=torch.int32, device=dev)
        auto = [w for w, i in enumerate(g.members) if lanes_list[i] is None]
        chosen = auto_lanes(g, auto, [lb_list[g.members[w]] for w in auto])
        g.lanes = [chosen[w] if w in chosen else min(int(lanes_list[i]), g.n[w])
                   for w, i in enumerate(g.members)]
        plan.append(g.lanes)
    return groups, plan


def _symbols(symbols: Tensor | np.ndarray, model: EntropyModel, dev: torch.device) -> Tensor:
    s = symbols if isinstance(symbols, Tensor) else torch.as_tensor(np.asarray(symbols))
    if s.is_floating_point() or s.is_complex() or s.dtype == torch.bool:
        raise TypeError(f"symbols must be integers, got {s.dtype}")
    if tuple(s.shape) != tuple(model.shape):
        raise ValueError(f"symbols have shape {tuple(s.shape)}, model expects {tuple(model.shape)}")
    if s.dtype != torch.int32 and s.numel():
        lo_hi = torch.stack([s.min().to(torch.int64), s.max().to(torch.int64)]).tolist()
        if lo_hi[0] < -(2**31) or lo_hi[1] > 2**31 - 1:
            raise ValueError("symbols must fit in int32")
    return s.to(dev, torch.int32).reshape(-1).contiguous()


def encode_batch(items: Sequence[tuple[Tensor | np.ndarray, EntropyModel]],
                 lanes: int | None | Sequence[int | None], lane_bytes: int | Sequence[int],
                 dev: torch.device, block: int = BLOCK, num_warps: int = NUM_WARPS) -> list[bytes]:
    groups, _ = prepare_encode(items, lanes, lane_bytes, dev)
    out: list[bytes] = [b""] * len(items)
    for g in groups:
        enc = encode_group(g, g.lanes, dev, block, num_warps)
        host = enc.data.cpu().numpy().view(np.uint8)
        pos = 0
        for w, i in enumerate(g.members):
            first, L = enc.lanes.stream_first[w], g.lanes[w]
            lb = enc.lane_bytes[first:first + L]
            nbytes = int(lb.sum())
            out[i] = stream_bytes(model_tag(items[i][1]), g.n[w], lb, host[pos:pos + nbytes])
            pos += nbytes
    return out


# ---- decode ----------------------------------------------------------------------------------


@dataclass
class DecodePlan:
    group: Group
    lanes: LaneTable
    words: Tensor  # int16 lane data of all members
    pos: Tensor  # int64 first unit of each lane
    end: Tensor  # int64 one past its last unit


def prepare_decode(items: Sequence[tuple[bytes | bytearray | memoryview, EntropyModel]],
                   dev: torch.device, errors: list[str | None] | None = None) -> list[DecodePlan]:
    """Parse and check every header on the host, then move lane data to `dev` (one copy per
    group). With `errors` (a list, one slot per item), a stream whose header is bad gets its
    message there and is left out instead of raising."""
    models = [m for _, m in items]
    validate(models, dev)
    headers: dict[int, tuple[bytes, Header]] = {}
    for i, (data, m) in enumerate(items):
        d = bytes(data) if not isinstance(data, bytes) else data
        try:
            headers[i] = (d, parse_header(d, model_tag(m), symbol_count(m)))
        except CorruptStreamError as e:
            if errors is None:
                raise
            errors[i] = str(e)
    keep = sorted(headers)
    plans = []
    for g in make_groups([models[i] for i in keep], dev):
        g.members = [keep[w] for w in g.members]
        g.lanes = [headers[i][1].lanes for i in g.members]
        lt = lane_table(g, g.lanes, dev)
        chunks, starts, ends, unit = [], [], [], 0
        for i in g.members:
            d, h = headers[i]
            chunks.append(np.frombuffer(d, np.uint8, offset=h.data_pos))
            offs = np.concatenate([[0], np.cumsum(h.lane_bytes.astype(np.int64))]) // 2 + unit
            starts.append(offs[:-1])
            ends.append(offs[1:])
            unit = int(offs[-1])
        raw = np.concatenate(chunks) if chunks else np.zeros(0, np.uint8)
        words = torch.from_numpy(raw.view(np.int16).copy()).to(dev) if raw.size else \
            torch.zeros(2, dtype=torch.int16, device=dev)
        cat = lambda a: torch.from_numpy(np.concatenate(a).astype(np.int64) if a else np.zeros(0, np.int64)).to(dev)  # noqa: E731
        plans.append(DecodePlan(g, lt, words, cat(starts), cat(ends)))
    return plans


def run_decode(plan: DecodePlan, dev: torch.device, block: int = BLOCK,
               num_warps: int = NUM_WARPS) -> tuple[Tensor, Tensor]:
    """Launch the decode kernel: (symbols int32 [group total], per-lane error codes)."""
    from neurocodec.entropy.gpu import kernels

    g, lt = plan.group, plan.lanes
    out = torch.empty(sum(g.n), dtype=torch.int32, device=dev)
    err = torch.zeros(lt.size, dtype=torch.int32, device=dev)
    if lt.size:
        ftab, inv, hw = _constants(dev)
        kernels.decode_kernel[(triton_cdiv(lt.size, block),)](
            plan.words, plan.pos, plan.end, lt.base, lt.j, lt.L, lt.n, lt.size, out, err,
            *_kernel_models(g, dev), ftab, inv, hw, **_consts(g), BLOCK=block,
            num_warps=num_warps)
    return out, err


def lane_errors(plan: DecodePlan, err: Tensor) -> dict[int, str]:
    """{batch position: message} of the streams of `plan` with a failing lane (first lane)."""
    codes = err.cpu().numpy()
    out: dict[int, str] = {}
    first = np.asarray(plan.lanes.stream_first)
    for lane in np.flatnonzero(codes):
        w = int(np.searchsorted(first, lane, side="right") - 1)
        i = plan.group.members[w]
        out.setdefault(i, _ERRORS.get(int(codes[lane]), "entropy stream corrupt"))
    return out


def decode_batch(items: Sequence[tuple[bytes | bytearray | memoryview, EntropyModel]],
                 dev: torch.device, block: int = BLOCK, num_warps: int = NUM_WARPS,
                 batch: bool = True, errors: list[str | None] | None = None) -> list[Tensor | None]:
    """Decode all items. A corrupt stream raises CorruptStreamError (naming its position when
    `batch`), or, given an `errors` list, leaves None in the output and its message there."""
    out: list[Tensor | None] = [None] * len(items)
    for plan in prepare_decode(items, dev, errors):
        sym, err = run_decode(plan, dev, block, num_warps)
        bad = lane_errors(plan, err)
        if bad and errors is None:
            i = min(bad)
            raise CorruptStreamError(f"stream {i}: {bad[i]}" if batch else bad[i])
        g = plan.group
        for w, i in enumerate(g.members):
            if i in bad:
                errors[i] = bad[i]  # type: ignore[index]
                continue
            a = g.sym_base[w]
            out[i] = sym[a:a + g.n[w]].reshape(items[i][1].shape)
    return out
