"""Triton kernels of the GPU entropy backend: one rANS lane per GPU thread.

These kernels implement the integer formulas of ``csrc/rans.h`` / ``csrc/models.h`` /
``csrc/lanes.h`` (the specification) operation for operation, so that the bytes are identical
to the CPU coder's. All arithmetic is integer: the coder state and every product live in int64
(no product exceeds 2^59), the encoder's division is an unsigned 32-bit division (the state is
< 2^32). Right shifts of negative int64 are arithmetic (floor), as in C++20.

Kernel arguments describe a *batch* of streams flattened into lanes: global lane g belongs to a
stream whose symbols start at ``lane_base[g]`` in the concatenated symbol / parameter arrays;
it is lane ``lane_j[g]`` of ``lane_L[g]`` lanes of a stream of ``lane_n[g]`` symbols, so it
codes symbols ``j, j + L, j + 2L, ...`` (``lanes.h``: symbol i goes to lane i % L).

Model kinds (``KIND``, a compile-time constant, like ``FAMILY`` and the mixture size ``K``):
0 indexed CDF tables, 1 parametric (Gaussian / Laplace / logistic), 2 mixtures (FlashGMM: the
decoder binary-searches the CDF evaluated from the K components' parameters).

The same kernels run on CPU tensors under ``TRITON_INTERPRET=1`` (the tests do this).
"""

from __future__ import annotations

import triton
import triton.language as tl

# ---- constants of rans.h / tables.h (the pinned stream format) -------------------------------
PROB_SCALE = tl.constexpr(1 << 16)
SLOT_MASK = tl.constexpr((1 << 16) - 1)
RANS_L = tl.constexpr(1 << 16)
DELTA_CLAMP = tl.constexpr(1 << 32)
T_MIN = tl.constexpr(-(16 << 16))  # -(kCdfTMax << 16)
T_MAX = tl.constexpr((16 << 16) - 1)
CDF_SIZE = tl.constexpr(4097)
NUM_SCALES = tl.constexpr(256)
MAX_HALF_WIDTH = tl.constexpr(16383)
MAX_SUPPORT = tl.constexpr(2 * 16383 + 1)
BYPASS_LEN_BITS = tl.constexpr(6)
LEN_SHIFT = tl.constexpr(10)  # 16 - BYPASS_LEN_BITS
LEN_FREQ = tl.constexpr(1 << 10)
MAX_BYPASS_BITS = tl.constexpr(34)
INT32_MIN = tl.constexpr(-(2**31))
INT32_MAX = tl.constexpr(2**31 - 1)
BIG = tl.constexpr(1 << 40)

# decoder error codes (per lane); the host maps them to CorruptStreamError messages
ERR_TRUNCATED = tl.constexpr(1)
ERR_ESC_LEN = tl.constexpr(2)
ERR_ESC_RANGE = tl.constexpr(3)
ERR_END = tl.constexpr(4)
ERR_STATE = tl.constexpr(5)


# ---- integer CDF math (rans.h) ---------------------------------------------------------------


@triton.jit
def _family_cdf(ftab_ptr, x_q8, mean_q8, inv):
    """family_cdf_q30: F((x - mean) / scale) in Q30 by integer interpolation of the table."""
    d = x_q8 - mean_q8
    d = tl.minimum(tl.maximum(d, -DELTA_CLAMP), DELTA_CLAMP)
    t = (d * inv) >> 16
    t = tl.minimum(tl.maximum(t, T_MIN), T_MAX)
    u = t - T_MIN  # [0, 2^21)
    j = u >> 9
    frac = u & 511
    a = tl.load(ftab_ptr + j).to(tl.int64)
    b = tl.load(ftab_ptr + j + 1).to(tl.int64)
    return a + (((b - a) * frac) >> 9)


@triton.jit
def _bit_length(z):
    """Number of bits of z >= 0 (z < 2^64), elementwise."""
    n = z * 0
    for s in tl.static_range(5, -1, -1):
        big = (z >> (1 << s)) != 0
        n = n + tl.where(big, 1 << s, 0)
        z = tl.where(big, z >> (1 << s), z)
    return n + (z != 0).to(z.dtype)


@triton.jit
def _prep(gi, act, index_ptr, cdfs_ptr, stride, lengths_ptr, offsets_ptr, mean_ptr, scale_ptr,
          weight_ptr, inv_ptr, hw_ptr, KIND: tl.constexpr, FAMILY: tl.constexpr, K: tl.constexpr,
          KP: tl.constexpr):
    """The distribution of symbols gi: support [lo, lo + n) and its parameters.

    Returns (lo, n, row, mean, inv, w): `row` is the table row offset (KIND 0); `mean`, `inv`
    (Q24 inverse scale) and `w` (Q16 weight) are per component, [BLOCK, KP], for mixtures.
    Inactive lanes get a harmless one-symbol support at 0.
    """
    if KIND == 0:
        t = tl.load(index_ptr + gi, mask=act, other=0)
        row = t.to(tl.int64) * stride
        lo = tl.load(offsets_ptr + t, mask=act, other=0).to(tl.int64)
        n = tl.load(lengths_ptr + t, mask=act, other=1).to(tl.int64)
        return lo, n, row, row, row, row
    elif KIND == 1:
        mean = tl.load(mean_ptr + gi, mask=act, other=0).to(tl.int64)
        s = tl.load(scale_ptr + gi, mask=act, other=0)
        inv = tl.load(inv_ptr + s).to(tl.int64)
        h = tl.load(hw_ptr + FAMILY * NUM_SCALES + s).to(tl.int64)
        lo = ((mean + 128) >> 8) - h  # round_mean(mean) - h
        n = 2 * h + 1
        return lo, n, lo, mean, inv, inv
    else:
        ci = tl.arange(0, KP)
        off2 = gi[:, None] * K + ci[None, :]
        m2 = act[:, None] & (ci < K)[None, :]
        mean = tl.load(mean_ptr + off2, mask=m2, other=0).to(tl.int64)
        s = tl.load(scale_ptr + off2, mask=m2, other=0)
        w = tl.load(weight_ptr + off2, mask=m2, other=0).to(tl.int64)
        inv = tl.load(inv_ptr + s).to(tl.int64)
        h = tl.load(hw_ptr + FAMILY * NUM_SCALES + s).to(tl.int64)
        # mixture_support: union of the supports of components with weight > 0, clamped to
        # kMaxSupport symbols around the heaviest (first largest weight) component's centre.
        rm = (mean + 128) >> 8
        valid = w > 0
        lo = tl.min(tl.where(valid, rm - h, BIG), axis=1)
        hi = tl.max(tl.where(valid, rm + h, -BIG), axis=1)
        wmax = tl.max(w, axis=1)
        heavy = tl.min(tl.where(w == wmax[:, None], ci[None, :], KP), axis=1)
        centre = tl.sum(tl.where(ci[None, :] == heavy[:, None], rm, 0), axis=1)
        wide = hi - lo + 1 > MAX_SUPPORT
        lo = tl.where(wide, tl.maximum(lo, centre - MAX_HALF_WIDTH), lo)
        hi = tl.where(wide, tl.minimum(hi, lo + (MAX_SUPPORT - 1)), hi)
        lo = tl.where(act, lo, 0)
        n = tl.where(act, hi - lo + 1, 1)
        return lo, n, lo, mean, inv, w


@triton.jit
def _cdf(v, m, lo, n, row, mean, inv, w, ftab_ptr, cdfs_ptr, KIND: tl.constexpr,
         FAMILY: tl.constexpr):
    """c(v) for v in [lo, lo + n] (models.h TableDist::cdf, ParamDist::cdf, MixtureDist::cdf)."""
    k = v - lo
    if KIND == 0:
        c = tl.load(cdfs_ptr + row + k, mask=m & (k >= 0) & (k <= n), other=0).to(tl.int64)
    else:
        x = (v << 8) - 128  # v - 1/2 in Q8
        if KIND == 1:
            f = _family_cdf(ftab_ptr + FAMILY * CDF_SIZE, x, mean, inv)
        else:
            f2 = _family_cdf(ftab_ptr + FAMILY * CDF_SIZE, x[:, None], mean, inv)
            f = tl.sum(w * f2, axis=1) >> 16
        # leaky(f, k, n) = floor((2^16 - n - 1) * f / 2^30) + k, and c(lo) = 0
        c = (((PROB_SCALE - 1 - n) * f) >> 30) + k
        c = tl.where(k == 0, 0, c)
    return c


# ---- encoder ---------------------------------------------------------------------------------


@triton.jit
def _put(x, start, freq, m, nw, buf_ptr, wbase, cap, BLOCK: tl.constexpr):
    """rans_put on the lanes in mask m; a renormalisation word goes to the lane's next slot."""
    freq = tl.where(m, freq, 1)
    emit = m & (x >= (freq << 16))
    tl.store(buf_ptr + wbase + nw.to(tl.int64) * BLOCK, (x & SLOT_MASK).to(tl.int16),
             mask=emit & (nw < cap))
    x = tl.where(emit, x >> 16, x)
    nw = nw + emit.to(tl.int32)
    xu = x.to(tl.uint32)
    fu = freq.to(tl.uint32)
    q = xu // fu
    r = xu - q * fu
    xn = (q.to(tl.int64) << 16) + r.to(tl.int64) + start
    return tl.where(m, xn, x), nw


@triton.jit
def encode_kernel(sym_ptr, lane_base_ptr, lane_j_ptr, lane_L_ptr, lane_n_ptr, n_lanes,
                  buf_ptr, buf_base_ptr, cap_ptr, count_ptr, state_ptr,
                  index_ptr, cdfs_ptr, stride, lengths_ptr, offsets_ptr,
                  mean_ptr, scale_ptr, weight_ptr,
                  ftab_ptr, inv_ptr, hw_ptr,
                  KIND: tl.constexpr, FAMILY: tl.constexpr, K: tl.constexpr, KP: tl.constexpr,
                  BLOCK: tl.constexpr):
    """Encode every lane of the batch (lanes.h encode_stream, one lane per thread).

    Lane g runs backwards over its symbols; its renormalisation words (emission order) go to
    ``buf[buf_base[pid] + w * BLOCK + g % BLOCK]`` for w < cap[pid] (the words of a block of
    lanes are interleaved so that stores coalesce). count[g] receives the exact number of
    words (also when it exceeds the capacity: the host then retries with more room), state[g]
    the final state.
    """
    pid = tl.program_id(0)
    g = pid * BLOCK + tl.arange(0, BLOCK)
    gm = g < n_lanes
    base = tl.load(lane_base_ptr + g, mask=gm, other=0)
    j = tl.load(lane_j_ptr + g, mask=gm, other=0).to(tl.int64)
    L = tl.load(lane_L_ptr + g, mask=gm, other=1).to(tl.int64)
    n_sym = tl.load(lane_n_ptr + g, mask=gm, other=0).to(tl.int64)
    cnt = tl.where(gm & (j < n_sym), (n_sym - j + L - 1) // L, 0)
    wbase = tl.load(buf_base_ptr + pid) + tl.arange(0, BLOCK)
    cap = tl.load(cap_ptr + pid)
    x = tl.full([BLOCK], RANS_L, tl.int64)
    nw = tl.zeros([BLOCK], tl.int32)
    kmax = tl.max(cnt, axis=0)
    for t in range(0, kmax):
        k = kmax - 1 - t
        act = k < cnt
        gi = base + j + k * L
        v = tl.load(sym_ptr + gi, mask=act, other=0).to(tl.int64)
        lo, n, row, mean, inv, w = _prep(gi, act, index_ptr, cdfs_ptr, stride, lengths_ptr,
                                         offsets_ptr, mean_ptr, scale_ptr, weight_ptr, inv_ptr,
                                         hw_ptr, KIND, FAMILY, K, KP)
        hi = lo + n - 1
        c_end = _cdf(hi + 1, act, lo, n, row, mean, inv, w, ftab_ptr, cdfs_ptr, KIND, FAMILY)
        inside = (v >= lo) & (v <= hi)
        vc = tl.minimum(tl.maximum(v, lo), hi)
        c0 = _cdf(vc, act, lo, n, row, mean, inv, w, ftab_ptr, cdfs_ptr, KIND, FAMILY)
        c1 = _cdf(vc + 1, act & (vc < hi), lo, n, row, mean, inv, w, ftab_ptr, cdfs_ptr, KIND,
                  FAMILY)
        c1 = tl.where(vc == hi, c_end, c1)
        # escape: payload u (below -> even, above -> odd), z = u + 1 = 1 | nb raw bits
        esc = act & ~inside
        u = tl.where(v < lo, (lo - 1 - v) * 2, (v - hi - 1) * 2 + 1)
        z = tl.where(esc, u + 1, 1)
        nb = _bit_length(z) - 1
        # rANS is LIFO: the intervals go in reverse decode order (raw words, length, escape)
        for q in tl.static_range(2, -1, -1):
            mq = esc & (nb > 16 * q)
            bits = tl.where(mq, tl.minimum(nb - 16 * q, 16), 16)
            val = (z >> (16 * q)) & ((1 << bits) - 1)
            x, nw = _put(x, val << (16 - bits), 1 << (16 - bits), mq, nw, buf_ptr, wbase, cap,
                         BLOCK)
        x, nw = _put(x, nb << LEN_SHIFT, LEN_FREQ, esc, nw,
                     buf_ptr, wbase, cap, BLOCK)
        start = tl.where(inside, c0, c_end)
        freq = tl.where(inside, c1 - c0, PROB_SCALE - c_end)
        x, nw = _put(x, start, freq, act, nw, buf_ptr, wbase, cap, BLOCK)
    tl.store(count_ptr + g, nw, mask=gm)
    tl.store(state_ptr + g, x, mask=gm)


@triton.jit
def compact_kernel(buf_ptr, buf_base_ptr, count_ptr, state_ptr, out_ptr, out_off_ptr, n_lanes,
                   BLOCK: tl.constexpr):
    """Write each lane in the stream layout (lanes.h): u32 state, then its words in decode
    order (the reverse of emission), as 16-bit little-endian units at out[out_off[g]...]."""
    pid = tl.program_id(0)
    g = pid * BLOCK + tl.arange(0, BLOCK)
    gm = g < n_lanes
    c = tl.load(count_ptr + g, mask=gm, other=0)
    x = tl.load(state_ptr + g, mask=gm, other=0)
    o = tl.load(out_off_ptr + g, mask=gm, other=0)
    tl.store(out_ptr + o, (x & SLOT_MASK).to(tl.int16), mask=gm)
    tl.store(out_ptr + o + 1, (x >> 16).to(tl.int16), mask=gm)
    wbase = tl.load(buf_base_ptr + pid) + tl.arange(0, BLOCK)
    cmax = tl.max(c, axis=0)
    for w in range(0, cmax):
        m = w < c
        val = tl.load(buf_ptr + wbase + w * BLOCK, mask=m, other=0)
        tl.store(out_ptr + o + 2 + (c - 1 - w).to(tl.int64), val, mask=m)


# ---- decoder ---------------------------------------------------------------------------------


@triton.jit
def _advance(x, start, freq, m, pos, end, err, words_ptr):
    """rans_advance + renormalisation on the lanes in mask m (LaneReader::advance)."""
    x = tl.where(m, freq * (x >> 16) + (x & SLOT_MASK) - start, x)
    need = m & (x < RANS_L)
    ok = need & (pos < end)
    err = tl.where(need & ~ok, ERR_TRUNCATED, err)
    word = tl.load(words_ptr + pos, mask=ok, other=0).to(tl.int64) & SLOT_MASK
    x = tl.where(ok, (x << 16) | word, x)
    return x, pos + ok.to(tl.int64), err


@triton.jit
def _read_uniform(x, bits, m, pos, end, err, words_ptr):
    val = (x & SLOT_MASK) >> (16 - bits)
    x, pos, err = _advance(x, val << (16 - bits), 1 << (16 - bits), m, pos, end, err, words_ptr)
    return val, x, pos, err


@triton.jit
def decode_kernel(words_ptr, lane_pos_ptr, lane_end_ptr, lane_base_ptr, lane_j_ptr, lane_L_ptr,
                  lane_n_ptr, n_lanes, out_ptr, err_ptr,
                  index_ptr, cdfs_ptr, stride, lengths_ptr, offsets_ptr,
                  mean_ptr, scale_ptr, weight_ptr,
                  ftab_ptr, inv_ptr, hw_ptr,
                  KIND: tl.constexpr, FAMILY: tl.constexpr, K: tl.constexpr, KP: tl.constexpr,
                  BLOCK: tl.constexpr):
    """Decode every lane of the batch (lanes.h decode_stream, one lane per thread).

    Lane g reads 16-bit units words[lane_pos[g] .. lane_end[g]): its u32 state, then its words.
    err[g] receives 0 or an error code; a lane stops at its first error, never reads outside
    its range, and runs at most its symbol count of steps (no hang on corrupt data).
    """
    pid = tl.program_id(0)
    g = pid * BLOCK + tl.arange(0, BLOCK)
    gm = g < n_lanes
    pos = tl.load(lane_pos_ptr + g, mask=gm, other=0)
    end = tl.load(lane_end_ptr + g, mask=gm, other=0)
    base = tl.load(lane_base_ptr + g, mask=gm, other=0)
    j = tl.load(lane_j_ptr + g, mask=gm, other=0).to(tl.int64)
    L = tl.load(lane_L_ptr + g, mask=gm, other=1).to(tl.int64)
    n_sym = tl.load(lane_n_ptr + g, mask=gm, other=0).to(tl.int64)
    cnt = tl.where(gm & (j < n_sym), (n_sym - j + L - 1) // L, 0)
    lo16 = tl.load(words_ptr + pos, mask=gm, other=0).to(tl.int64) & SLOT_MASK
    hi16 = tl.load(words_ptr + pos + 1, mask=gm, other=0).to(tl.int64) & SLOT_MASK
    x = lo16 | (hi16 << 16)
    pos = pos + 2
    err = tl.where(gm & (x < RANS_L), ERR_STATE, 0)
    kmax = tl.max(cnt, axis=0)
    for k in range(0, kmax):
        act = (k < cnt) & (err == 0)
        gi = base + j + k * L
        lo, n, row, mean, inv, w = _prep(gi, act, index_ptr, cdfs_ptr, stride, lengths_ptr,
                                         offsets_ptr, mean_ptr, scale_ptr, weight_ptr, inv_ptr,
                                         hw_ptr, KIND, FAMILY, K, KP)
        hi = lo + n - 1
        c_end = _cdf(hi + 1, act, lo, n, row, mean, inv, w, ftab_ptr, cdfs_ptr, KIND, FAMILY)
        slot = x & SLOT_MASK
        esc = act & (slot >= c_end)
        # cdf_search: the largest v in [lo, hi] with c(v) <= slot; c(hi + 1) = c_end > slot
        a = lo
        b = tl.where(act & ~esc, hi, lo)
        ca = a * 0
        cb = c_end
        steps = _bit_length(tl.max(b - a, axis=0))
        for _ in range(0, steps):
            go = a < b
            mid = a + ((b - a + 1) >> 1)
            cm = _cdf(mid, go, lo, n, row, mean, inv, w, ftab_ptr, cdfs_ptr, KIND, FAMILY)
            le = cm <= slot
            a = tl.where(go & le, mid, a)
            ca = tl.where(go & le, cm, ca)
            b = tl.where(go & ~le, mid - 1, b)
            cb = tl.where(go & ~le, cm, cb)
        start = tl.where(esc, c_end, ca)
        freq = tl.where(esc, PROB_SCALE - c_end, cb - ca)
        x, pos, err = _advance(x, start, freq, act, pos, end, err, words_ptr)
        # escape: a 6-bit bit count nb, then nb raw bits (16 per uniform symbol)
        me = esc & (err == 0)
        nb, x, pos, err = _read_uniform(x, tl.full([BLOCK], BYPASS_LEN_BITS, tl.int64), me, pos, end,
                                        err, words_ptr)
        err = tl.where(me & (nb > MAX_BYPASS_BITS), ERR_ESC_LEN, err)
        nb = tl.minimum(nb, MAX_BYPASS_BITS)
        z = tl.full([BLOCK], 1, tl.int64) << nb
        for q in tl.static_range(3):
            mq = esc & (err == 0) & (nb > 16 * q)
            bits = tl.where(mq, tl.minimum(nb - 16 * q, 16), 16)
            val, x, pos, err = _read_uniform(x, bits, mq, pos, end, err, words_ptr)
            z = z | tl.where(mq, val << (16 * q), 0)
        u = z - 1
        ve = tl.where((u & 1) != 0, hi + 1 + (u >> 1), lo - 1 - (u >> 1))
        err = tl.where(esc & (err == 0) & ((ve < INT32_MIN) | (ve > INT32_MAX)), ERR_ESC_RANGE,
                       err)
        v = tl.where(esc, ve, a)
        tl.store(out_ptr + gi, v.to(tl.int32), mask=act)
    bad_end = gm & (err == 0) & ((x != RANS_L) | (pos != end))
    err = tl.where(bad_end, ERR_END, err)
    tl.store(err_ptr + g, err, mask=gm)
