// rANS core and integer CDF math of neurocodec's entropy layer.
//
// Everything from integer model parameters to bytes is integer arithmetic: no floating point,
// no libm. The same integers give the same bytes on every machine; the GPU backend implements
// exactly these formulas. Header-only so that CUDA/C++ code can include it (NC_HD marks
// functions usable on both host and device).
//
// Coder: 32-bit state x in [2^16, 2^32), 16-bit renormalisation words, 16-bit probabilities
// (frequencies sum to 2^16). Every model reserves an escape symbol at the top of its CDF;
// values outside the support are coded as escape + a 6-bit length + raw bits (exp-Golomb with
// a fixed-length prefix), each as uniform rANS symbols, so any int32 round-trips.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tables.h"

#if defined(__CUDACC__)
#define NC_HD __host__ __device__ __forceinline__
#else
#define NC_HD inline
#endif

namespace nc {

constexpr int kProbBits = 16;
constexpr uint32_t kProbScale = 1u << kProbBits;  // 65536
constexpr uint32_t kRansL = 1u << 16;             // lower bound of the state
constexpr int kMeanFracBits = 8;                  // means are Q8 fixed point
constexpr int kMaxSupport = 2 * kMaxHalfWidth + 1;
constexpr int kMaxMixture = 8;
constexpr int kBypassLenBits = 6;   // escape payload: 6-bit bit count, then that many bits
constexpr int kMaxBypassBits = 34;  // |payload| < 2^34 covers every int32 distance
constexpr int64_t kDeltaClamp = int64_t(1) << 32;

// One coded symbol: the slot range [start, start + freq) of [0, 2^16).
struct Interval {
  uint32_t start;
  uint32_t freq;
};

// ---- rANS primitives -------------------------------------------------------------------------

// Encode one interval into state x; *out receives a 16-bit word when renormalising (returns 1).
NC_HD int rans_put(uint32_t& x, Interval iv, uint16_t* word) {
  int emitted = 0;
  const uint64_t x_max = uint64_t(iv.freq) << 16;
  if (uint64_t(x) >= x_max) {
    *word = uint16_t(x & 0xFFFFu);
    x >>= 16;
    emitted = 1;
  }
  x = ((x / iv.freq) << kProbBits) + (x % iv.freq) + iv.start;
  return emitted;
}

// Advance the decoder state past interval iv (renormalisation is the caller's job).
NC_HD uint32_t rans_advance(uint32_t x, Interval iv) {
  return iv.freq * (x >> kProbBits) + (x & (kProbScale - 1)) - iv.start;
}

NC_HD Interval uniform_interval(uint32_t value, int bits) {
  // value in [0, 2^bits), 1 <= bits <= 16
  return Interval{value << (16 - bits), 1u << (16 - bits)};
}

// ---- integer CDFs ----------------------------------------------------------------------------

// Family CDF at (x - mean) / scale, x given in Q8 (the caller passes 2v - 1 half-steps as Q8),
// as Q30. Piecewise-linear interpolation of the committed table: monotone in x by construction.
NC_HD uint32_t family_cdf_q30_inv(const uint32_t* tab, int64_t x_q8, int32_t mean_q8, int64_t inv_q24) {
  int64_t d = x_q8 - int64_t(mean_q8);
  if (d > kDeltaClamp) d = kDeltaClamp;
  if (d < -kDeltaClamp) d = -kDeltaClamp;
  // Q8 * Q24 = Q32 -> Q16 (arithmetic shift: floor).
  int64_t t = (d * inv_q24) >> 16;
  constexpr int64_t kTMin = -(int64_t(kCdfTMax) << 16);
  constexpr int64_t kTMax = (int64_t(kCdfTMax) << 16) - 1;
  if (t < kTMin) t = kTMin;
  if (t > kTMax) t = kTMax;
  const uint32_t u = uint32_t(t - kTMin);  // [0, 2^21)
  const uint32_t j = u >> 9;               // step 1/128 = 2^9 in Q16
  const uint32_t frac = u & 511u;
  const uint32_t a = tab[j], b = tab[j + 1];
  return a + uint32_t((uint64_t(b - a) * frac) >> 9);
}

NC_HD uint32_t family_cdf_q30(int family, int64_t x_q8, int32_t mean_q8, int scale_idx) {
  return family_cdf_q30_inv(kCdfTable[family], x_q8, mean_q8, kInvScale[scale_idx]);
}

// The "leaky" quantised CDF of a support [lo, lo + n) followed by one escape symbol:
//   c(lo) = 0,  c(v) = floor(W * F(v - 1/2) / 2^30) + (v - lo)  for lo < v <= lo + n,
//   escape = [c(lo + n), 2^16),  W = 2^16 - n - 1,
// so every symbol, the escape included, has frequency >= 1.
NC_HD uint32_t leaky(uint32_t f_q30, int64_t k, uint32_t n) {
  const uint64_t w = uint64_t(kProbScale) - n - 1;
  return uint32_t((w * f_q30) >> 30) + uint32_t(k);
}

// Support of a parametric symbol: centre = round(mean), half-width from the scale.
struct Support {
  int64_t lo;
  uint32_t n;  // number of in-support symbols, 1..kMaxSupport
};

NC_HD int64_t round_mean(int32_t mean_q8) {
  return (int64_t(mean_q8) + (1 << (kMeanFracBits - 1))) >> kMeanFracBits;
}

NC_HD Support parametric_support(int family, int32_t mean_q8, int scale_idx) {
  const int32_t h = kHalfWidth[family][scale_idx];
  return Support{round_mean(mean_q8) - h, uint32_t(2 * h + 1)};
}

// A single parametric distribution (Gaussian / Laplace / logistic).
struct ParamDist {
  int family;
  int32_t mean_q8;
  int scale_idx;
  Support sup;

  NC_HD uint32_t cdf(int64_t v) const {  // v in [lo, lo + n]
    const int64_t k = v - sup.lo;
    if (k == 0) return 0;
    const uint32_t f = family_cdf_q30(family, (v << kMeanFracBits) - (1 << (kMeanFracBits - 1)),
                                      mean_q8, scale_idx);
    return leaky(f, k, sup.n);
  }
};

// A mixture of K components of one family, weights in Q16 summing to exactly 2^16.
// Components with weight 0 are dropped; the others' constants are held locally. The support
// is the union of the components' supports, clamped to kMaxSupport symbols centred on the
// heaviest component.
struct MixtureDist {
  const uint32_t* tab;
  int k;  // components with weight > 0
  int32_t mean_q8[kMaxMixture];
  int64_t inv[kMaxMixture];
  uint32_t weight[kMaxMixture];
  Support sup;

  // One pass over the components: constants and support (weights already validated).
  NC_HD void set(int family, int kk, const int32_t* m, const int32_t* s, const int32_t* w) {
    tab = kCdfTable[family];
    k = 0;
    int heaviest = 0;
    int64_t lo = 0, hi = -1;
    for (int c = 0; c < kk; ++c) {
      if (w[c] > w[heaviest]) heaviest = c;
      if (w[c] == 0) continue;
      mean_q8[k] = m[c];
      inv[k] = kInvScale[s[c]];
      weight[k] = uint32_t(w[c]);
      const int64_t centre = round_mean(m[c]), h = kHalfWidth[family][s[c]];
      if (k == 0 || centre - h < lo) lo = centre - h;
      if (k == 0 || centre + h > hi) hi = centre + h;
      ++k;
    }
    if (hi - lo + 1 > kMaxSupport) {
      const int64_t centre = round_mean(m[heaviest]);
      if (lo < centre - kMaxHalfWidth) lo = centre - kMaxHalfWidth;
      if (hi > lo + kMaxSupport - 1) hi = lo + kMaxSupport - 1;
    }
    sup = Support{lo, uint32_t(hi - lo + 1)};
  }

  NC_HD uint32_t cdf(int64_t v) const {
    const int64_t kk = v - sup.lo;
    if (kk == 0) return 0;
    const int64_t x = (v << kMeanFracBits) - (1 << (kMeanFracBits - 1));
    uint64_t acc = 0;
    for (int c = 0; c < k; ++c) acc += uint64_t(weight[c]) * family_cdf_q30_inv(tab, x, mean_q8[c], inv[c]);
    return leaky(uint32_t(acc >> 16), kk, sup.n);
  }
};

// Bisection for v in [a, b] with c(v) <= slot < c(v + 1), given ca = c(a) <= slot and
// cb = c(b + 1) > slot. Tracks c at both ends so that the interval needs no extra CDF
// evaluation. (A branch-free variant measured slower: it needs one more evaluation of c.)
template <class Dist>
NC_HD int64_t cdf_bisect(const Dist& d, uint32_t slot, int64_t a, int64_t b, uint32_t ca, uint32_t cb, Interval* iv) {
  while (a < b) {
    const int64_t mid = a + ((b - a + 1) >> 1);
    const uint32_t cm = d.cdf(mid);
    if (cm <= slot) {
      a = mid;
      ca = cm;
    } else {
      b = mid - 1;
      cb = cm;
    }
  }
  iv->start = ca;
  iv->freq = cb - ca;
  return a;
}

// Find v in [lo, lo + n] with c(v) <= slot < c(v + 1), where c(lo + n + 1) := 2^16: v = lo + n
// is the escape. Returns v and its interval. This is the FlashGMM decode: a binary search on
// the integer CDF evaluated from the parameters, with no per-symbol table; the escape is found
// by the same search, so no separate evaluation of the escape start is needed.
template <class Dist>
NC_HD int64_t cdf_search(const Dist& d, uint32_t slot, Interval* iv) {
  return cdf_bisect(d, slot, d.sup.lo, d.sup.lo + int64_t(d.sup.n), 0, kProbScale, iv);
}

// The same search started from a guess v0 (any value: it is clamped): gallop away from v0 to
// bracket the answer, then bisect. The result does not depend on v0; a good guess only makes
// it cheaper (2 CDF evaluations when v0 is right, against log2(n) for a plain bisection).
template <class Dist>
NC_HD int64_t cdf_search_from(const Dist& d, uint32_t slot, int64_t v0, Interval* iv) {
  const int64_t lo = d.sup.lo, esc = d.sup.lo + int64_t(d.sup.n);  // c(esc + 1) := 2^16
  v0 = v0 < lo ? lo : (v0 > esc ? esc : v0);
  int64_t a, b;
  uint32_t ca, cb;
  const uint32_t c0 = d.cdf(v0);
  if (c0 <= slot) {
    a = v0, ca = c0;
    for (int64_t step = 1;; step <<= 1) {
      const int64_t t = a + step;
      if (t > esc) {
        b = esc, cb = kProbScale;
        break;
      }
      const uint32_t ct = d.cdf(t);
      if (ct > slot) {
        b = t - 1, cb = ct;
        break;
      }
      a = t, ca = ct;
    }
  } else {
    b = v0 - 1, cb = c0;  // v0 > lo, as c(lo) = 0 <= slot
    for (int64_t step = 1;; step <<= 1) {
      const int64_t t = b + 1 - step;
      if (t <= lo) {
        a = lo, ca = 0;
        break;
      }
      const uint32_t ct = d.cdf(t);
      if (ct <= slot) {
        a = t, ca = ct;
        break;
      }
      b = t - 1, cb = ct;
    }
  }
  return cdf_bisect(d, slot, a, b, ca, cb, iv);
}

// ---- escape payload ---------------------------------------------------------------------------

// Map v outside [lo, hi] to a non-negative payload u: below -> even, above -> odd.
NC_HD uint64_t escape_payload(int64_t v, int64_t lo, int64_t hi) {
  return v < lo ? uint64_t(lo - 1 - v) * 2u : uint64_t(v - hi - 1) * 2u + 1u;
}

NC_HD int64_t escape_value(uint64_t u, int64_t lo, int64_t hi) {
  return (u & 1u) ? hi + 1 + int64_t(u >> 1) : lo - 1 - int64_t(u >> 1);
}

NC_HD int bit_length(uint64_t z) {
  int n = 0;
  while (z) {
    ++n;
    z >>= 1;
  }
  return n;
}

}  // namespace nc
