// Mixture decoding on the host: a search for the decoded symbol started from a guess made of
// the components' quantiles. With AVX2 (chosen at run time) and supports of kSimdMinSupport
// symbols or more, it evaluates the integer mixture CDF at 4 or 8 points per step (the K
// components' interpolated table lookups, 4 points per vector); otherwise one point at a time
// with rans.h's gallop and bisection (measured as fast on narrow supports, where a call into
// the AVX2 code costs more than it saves).
//
// Only the search changes, never the CDF: the decoded v is the unique v with
// c(v) <= slot < c(v + 1), whatever points are probed on the way, so both kernels and the plain
// bisection of rans.h give identical symbols.
#pragma once

#include <atomic>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NC_X86 1
#else
#define NC_X86 0
#endif

#include "guess.h"
#include "rans.h"

namespace nc {

// ---- run-time kernel choice ------------------------------------------------------------------

// The family tables as (F[j], F[j + 1]) pairs (one load per interpolation), plus whether the
// AVX2 kernel's shortcut holds: |x - mean| can be clamped to 2^25 instead of 2^32 only because
// every inverse scale is >= 2^12 (then |d| >= 2^24 already saturates t at +-16).
struct MixtureTables {
  uint64_t pair[kNumFamilies][kCdfSize - 1];
  bool narrow_ok;

  MixtureTables() {
    for (int f = 0; f < kNumFamilies; ++f)
      for (int j = 0; j + 1 < kCdfSize; ++j)
        pair[f][j] = uint64_t(kCdfTable[f][j]) | (uint64_t(kCdfTable[f][j + 1]) << 32);
    narrow_ok = true;
    for (int s = 0; s < kNumScales; ++s) narrow_ok &= kInvScale[s] >= 4096 && kInvScale[s] < (int64_t(1) << 31);
  }
  static const MixtureTables& get() {
    static const MixtureTables t;
    return t;
  }
};

inline bool simd_supported() {
#if NC_X86 && defined(__GNUC__)
  static const bool ok = __builtin_cpu_supports("avx2") && MixtureTables::get().narrow_ok;
  return ok;
#else
  return false;
#endif
}

// Process-wide switch (default: on where supported); read once per encode/decode call.
inline std::atomic<bool>& simd_switch() {
  static std::atomic<bool> on{simd_supported()};
  return on;
}

// ---- the CDF at several points ----------------------------------------------------------------

constexpr int kProbes = 8;          // points per search step, at most
constexpr uint32_t kSimdMinSupport = 17;  // narrower supports: the scalar search is as fast

// Mixture constants for the search: the components with weight > 0 (as MixtureDist holds
// them) plus each one's scale index, for the starting guess.
struct MixtureProbe {
  const MixtureDist* d;
  int family;
  const uint8_t* scale_idx;  // [d->k]
};

#if NC_X86 && defined(__GNUC__)
namespace avx2 {

// Constants of the AVX2 kernel.
struct Consts {
  __m256i dmax, dmin, pmax, pmin, bias, low9, low32;
};

__attribute__((target("avx2"))) inline Consts consts() {
  return Consts{_mm256_set1_epi64x(int64_t(1) << 25), _mm256_set1_epi64x(-(int64_t(1) << 25)),
                _mm256_set1_epi64x((int64_t(1) << 36) - 1), _mm256_set1_epi64x(-(int64_t(1) << 36)),
                _mm256_set1_epi64x(int64_t(1) << 36), _mm256_set1_epi64x(511),
                _mm256_set1_epi64x(0xFFFFFFFFll)};
}

// x (Q8 half-step positions, 4 x int64) -> w * F((x - mean) / scale) in Q46, as
// family_cdf_q30_inv computes F: |x - mean| is clamped to 2^25 rather than 2^32 (the same t
// after its clamp, see MixtureTables), and t's clamp is done on the product before the shift.
__attribute__((target("avx2"))) inline __m256i weighted_cdf(const Consts& k, const uint64_t* pair, __m256i x,
                                                           __m256i mean, __m256i inv, __m256i w) {
  __m256i d = _mm256_sub_epi64(x, mean);
  d = _mm256_blendv_epi8(d, k.dmax, _mm256_cmpgt_epi64(d, k.dmax));
  d = _mm256_blendv_epi8(d, k.dmin, _mm256_cmpgt_epi64(k.dmin, d));
  __m256i p = _mm256_mul_epi32(d, inv);  // |d| <= 2^25, inv < 2^31: the exact int64 product
  p = _mm256_blendv_epi8(p, k.pmax, _mm256_cmpgt_epi64(p, k.pmax));
  p = _mm256_blendv_epi8(p, k.pmin, _mm256_cmpgt_epi64(k.pmin, p));
  const __m256i u = _mm256_srli_epi64(_mm256_add_epi64(p, k.bias), 16);  // t + 16 in Q16, [0, 2^21)
  const __m256i j = _mm256_srli_epi64(u, 9), frac = _mm256_and_si256(u, k.low9);
  // four scalar loads of (F[j], F[j + 1]): faster than vpgatherqq on the CPU measured (Zen 4)
  alignas(32) uint64_t jj[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(jj), j);
  const __m256i ab = _mm256_setr_epi64x(int64_t(pair[jj[0]]), int64_t(pair[jj[1]]), int64_t(pair[jj[2]]),
                                        int64_t(pair[jj[3]]));
  const __m256i a = _mm256_and_si256(ab, k.low32);
  const __m256i diff = _mm256_sub_epi64(_mm256_srli_epi64(ab, 32), a);
  const __m256i f = _mm256_add_epi64(a, _mm256_srli_epi64(_mm256_mul_epu32(diff, frac), 9));
  return _mm256_mul_epu32(f, w);
}

// leaky(acc >> 16, v - lo, n) for 4 points v, stored as 4 x uint32; returns how many are <= slot.
__attribute__((target("avx2"))) inline int leaky4(const MixtureDist& d, __m256i v, __m256i acc, __m256i slot,
                                                 uint32_t* out) {
  const __m256i f = _mm256_srli_epi64(acc, 16);
  const __m256i w = _mm256_set1_epi64x(int64_t(kProbScale) - d.sup.n - 1);
  const __m256i k = _mm256_sub_epi64(v, _mm256_set1_epi64x(d.sup.lo));
  const __m256i c = _mm256_add_epi64(_mm256_srli_epi64(_mm256_mul_epu32(w, f), 30), k);
  const __m256i lo32 = _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(lo32));
  const int above = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(c, slot)));
  return 4 - __builtin_popcount(unsigned(above));
}

// c(t[i]) for the first `count` (4 or 8) points t[i] in (lo, lo + n]: one or two vectors of 4
// points, a loop over the components. The same integers as MixtureDist::cdf. Returns how many
// of them are <= slot.
__attribute__((target("avx2"))) inline int mixture_cdf(const MixtureDist& d, const uint64_t* pair, const int64_t* t,
                                                      uint32_t* out, int count, uint32_t slot) {
  static_assert(kProbes == 8, "two vectors of 4 points");
  const Consts k = consts();
  const __m256i s = _mm256_set1_epi64x(slot);
  const __m256i half = _mm256_set1_epi64x(1 << (kMeanFracBits - 1));
  const __m256i v0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(t));
  const __m256i x0 = _mm256_sub_epi64(_mm256_slli_epi64(v0, kMeanFracBits), half);
  __m256i acc0 = _mm256_setzero_si256();
  if (count <= 4) {
    for (int c = 0; c < d.k; ++c)
      acc0 = _mm256_add_epi64(acc0, weighted_cdf(k, pair, x0, _mm256_set1_epi64x(d.mean_q8[c]),
                                                 _mm256_set1_epi64x(d.inv[c]), _mm256_set1_epi64x(d.weight[c])));
    return leaky4(d, v0, acc0, s, out);
  }
  const __m256i v1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(t + 4));
  const __m256i x1 = _mm256_sub_epi64(_mm256_slli_epi64(v1, kMeanFracBits), half);
  __m256i acc1 = _mm256_setzero_si256();
  for (int c = 0; c < d.k; ++c) {
    const __m256i mean = _mm256_set1_epi64x(d.mean_q8[c]), inv = _mm256_set1_epi64x(d.inv[c]);
    const __m256i w = _mm256_set1_epi64x(d.weight[c]);
    acc0 = _mm256_add_epi64(acc0, weighted_cdf(k, pair, x0, mean, inv, w));
    acc1 = _mm256_add_epi64(acc1, weighted_cdf(k, pair, x1, mean, inv, w));
  }
  return leaky4(d, v0, acc0, s, out) + leaky4(d, v1, acc1, s, out + 4);
}

}  // namespace avx2
#endif

// ---- the search ------------------------------------------------------------------------------

// Starting point m and hint bracket [gl, gh] for slot: the continuous mixture's quantile at u
// lies between its components' quantiles at u, and is often close to their weighted mean; each
// is guessed from the coarse inverse-CDF tables. Approximate: the search starts there, it does
// not trust them.
inline void mixture_guess(const MixtureProbe& m, uint32_t slot, int64_t* mid, int64_t* gl, int64_t* gh) {
  const GuessTables& g = GuessTables::get();
  const MixtureDist& d = *m.d;
  int64_t lo = g.guess(m.family, d.mean_q8[0], m.scale_idx[0], slot), hi = lo;
  int64_t acc = int64_t(d.weight[0]) * lo;
  for (int c = 1; c < d.k; ++c) {
    const int64_t q = g.guess(m.family, d.mean_q8[c], m.scale_idx[c], slot);
    lo = q < lo ? q : lo;
    hi = q > hi ? q : hi;
    acc += int64_t(d.weight[c]) * q;
  }
  *mid = (acc + (int64_t(1) << 15)) >> 16;  // weights sum to 2^16
  *gl = lo - 1;
  *gh = hi + 1;
}

// Find v in [lo, lo + n] with c(v) <= slot < c(v + 1) (v = lo + n: the escape), probing 4 or
// kProbes points per step. A support of at most kProbes symbols is settled in one step.
// Otherwise the first step probes guess - 1 .. guess + 2, which settles every v within 1 of the
// guess (about 70 % of the symbols of the benchmark's mixtures); later ones spread kProbes
// points evenly over what remains, narrowed to the hint bracket while that still cuts it. eval(t, out, count) computes c at the first `count` (4 or kProbes) sorted
// points of (lo, lo + n] and returns how many are <= slot.
template <class Eval>
inline int64_t mixture_search(const MixtureProbe& m, uint32_t slot, Interval* iv, Eval&& eval) {
  constexpr int P = kProbes;
  const MixtureDist& d = *m.d;
  const int64_t lo = d.sup.lo, esc = lo + int64_t(d.sup.n);
  int64_t a = lo, b = esc;  // v in [a, b]; ca = c(a), cb = c(b + 1)
  uint32_t ca = 0, cb = kProbScale;
  int64_t gl = lo, gh = esc;
  alignas(32) int64_t t[P];
  alignas(32) uint32_t c[P];
  int count;
  const auto all_of = [&](int64_t from, int64_t w) {  // the w <= P candidates (from, from + w]
    count = w <= 4 ? 4 : P;
    for (int i = 0; i < P; ++i) t[i] = from + 1 + (i < w ? i : w - 1);  // repeats are harmless
  };
  if (esc - lo <= P) {
    all_of(lo, esc - lo);
  } else {
    int64_t mid;
    mixture_guess(m, slot, &mid, &gl, &gh);
    count = 4;  // mid - 1 .. mid + 2
    for (int i = 0; i < count; ++i) {
      const int64_t ti = mid - (count / 2 - 1) + i;
      t[i] = ti <= lo ? lo + 1 : (ti > esc ? esc : ti);
    }
  }
  for (;;) {
    // c is increasing along the sorted t: the first `le` probes have c <= slot
    const int le = eval(t, c, count);
    if (le > 0 && t[le - 1] > a) a = t[le - 1], ca = c[le - 1];
    if (le < count && t[le] - 1 < b) b = t[le] - 1, cb = c[le];
    if (a >= b) break;
    int64_t from = gl - 1 > a ? gl - 1 : a, to = gh + 1 < b ? gh + 1 : b;  // probes in (from, to]
    if (from >= to) from = a, to = b;
    const int64_t w = to - from;
    if (w <= P) {
      all_of(from, w);
    } else {
      count = P;
      for (int i = 0; i < P; ++i) t[i] = from + (w * (i + 1)) / P;
    }
  }
  iv->start = ca;
  iv->freq = cb - ca;
  return a;
}

// Without SIMD, one point at a time (8 at once measured slower): rans.h's bisection on small
// supports, else its gallop from the guess.
inline int64_t mixture_search_scalar(const MixtureProbe& m, uint32_t slot, Interval* iv) {
  if (int64_t(m.d->sup.n) <= kProbes) return cdf_search(*m.d, slot, iv);
  int64_t mid, gl, gh;
  mixture_guess(m, slot, &mid, &gl, &gh);
  return cdf_search_from(*m.d, slot, mid, iv);
}

#if NC_X86 && defined(__GNUC__)
__attribute__((target("avx2"), flatten)) inline int64_t mixture_search_avx2(const MixtureProbe& m, uint32_t slot,
                                                                            Interval* iv) {
  const uint64_t* pair = MixtureTables::get().pair[m.family];
  return mixture_search(m, slot, iv, [&](const int64_t* t, uint32_t* out, int count) {
    return avx2::mixture_cdf(*m.d, pair, t, out, count, slot);
  });
}

// c(t[i]) for kProbes points of (lo, lo + n] by the AVX2 kernel (tests).
__attribute__((target("avx2"))) inline void mixture_cdf_avx2_points(const MixtureDist& d, int family, const int64_t* t,
                                                                   uint32_t* out) {
  avx2::mixture_cdf(d, MixtureTables::get().pair[family], t, out, kProbes, 0);
}
#endif

}  // namespace nc
