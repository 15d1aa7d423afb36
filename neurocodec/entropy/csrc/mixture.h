// Mixture decoding on the host: a search for the decoded symbol that evaluates the integer
// mixture CDF at 4 points per step, with an AVX2 kernel (the K components' table lookups of
// 4 points at once) chosen at run time and a scalar kernel computing the same integers.
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

// ---- the search ------------------------------------------------------------------------------

// Mixture constants for the 4-point kernels: the components with weight > 0 (as MixtureDist
// holds them) plus each one's scale index, for the decoder's starting bracket.
struct MixtureProbe {
  const MixtureDist* d;
  int family;
  const uint8_t* scale_idx;  // [d->k]
};

// c(t[i]) for 4 points t[i] in (lo, lo + n], scalar.
inline void mixture_cdf4_scalar(const MixtureDist& d, const int64_t* t, uint32_t* out) {
  for (int i = 0; i < 4; ++i) out[i] = d.cdf(t[i]);
}

#if NC_X86 && defined(__GNUC__)
// c(t[i]) for 4 points t[i] in (lo, lo + n]: one 64-bit lane per point, a loop over the
// components. The same integers as MixtureDist::cdf (see MixtureTables for the clamp).
__attribute__((target("avx2"))) inline void mixture_cdf4_avx2(const MixtureDist& d, const uint64_t* pair,
                                                              const int64_t* t, uint32_t* out) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t));
  const __m256i x = _mm256_sub_epi64(_mm256_slli_epi64(v, kMeanFracBits),
                                     _mm256_set1_epi64x(1 << (kMeanFracBits - 1)));
  const __m256i dmax = _mm256_set1_epi64x(int64_t(1) << 25), dmin = _mm256_set1_epi64x(-(int64_t(1) << 25));
  const __m256i pmax = _mm256_set1_epi64x((int64_t(1) << 36) - 1), pmin = _mm256_set1_epi64x(-(int64_t(1) << 36));
  const __m256i bias = _mm256_set1_epi64x(int64_t(1) << 36), low9 = _mm256_set1_epi64x(511);
  const __m256i low32 = _mm256_set1_epi64x(0xFFFFFFFFll);
  __m256i acc = _mm256_setzero_si256();
  for (int c = 0; c < d.k; ++c) {
    __m256i dd = _mm256_sub_epi64(x, _mm256_set1_epi64x(d.mean_q8[c]));
    dd = _mm256_blendv_epi8(dd, dmax, _mm256_cmpgt_epi64(dd, dmax));
    dd = _mm256_blendv_epi8(dd, dmin, _mm256_cmpgt_epi64(dmin, dd));
    __m256i p = _mm256_mul_epi32(dd, _mm256_set1_epi64x(d.inv[c]));  // |dd| <= 2^25, inv < 2^31
    p = _mm256_blendv_epi8(p, pmax, _mm256_cmpgt_epi64(p, pmax));
    p = _mm256_blendv_epi8(p, pmin, _mm256_cmpgt_epi64(pmin, p));
    const __m256i u = _mm256_srli_epi64(_mm256_add_epi64(p, bias), 16);  // t + 16 in Q16, [0, 2^21)
    const __m256i j = _mm256_srli_epi64(u, 9), frac = _mm256_and_si256(u, low9);
    // four scalar loads: faster than vpgatherqq on the CPUs measured (AMD Zen 4)
    alignas(32) uint64_t jj[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(jj), j);
    const __m256i ab = _mm256_setr_epi64x(int64_t(pair[jj[0]]), int64_t(pair[jj[1]]), int64_t(pair[jj[2]]),
                                          int64_t(pair[jj[3]]));
    const __m256i a = _mm256_and_si256(ab, low32);
    const __m256i diff = _mm256_sub_epi64(_mm256_srli_epi64(ab, 32), a);
    const __m256i f = _mm256_add_epi64(a, _mm256_srli_epi64(_mm256_mul_epu32(diff, frac), 9));
    acc = _mm256_add_epi64(acc, _mm256_mul_epu32(f, _mm256_set1_epi64x(d.weight[c])));
  }
  // leaky(acc >> 16, t - lo, n)
  const __m256i f = _mm256_srli_epi64(acc, 16);
  const __m256i w = _mm256_set1_epi64x(int64_t(kProbScale) - d.sup.n - 1);
  const __m256i k = _mm256_sub_epi64(v, _mm256_set1_epi64x(d.sup.lo));
  const __m256i c = _mm256_add_epi64(_mm256_srli_epi64(_mm256_mul_epu32(w, f), 30), k);
  const __m128i lo32 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6)));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), lo32);
}
#endif

// Starting bracket [gl, gh] for slot: the continuous mixture's quantile at u lies between its
// components' quantiles at u, each guessed from the coarse inverse-CDF tables (approximate:
// the search only starts there, it does not trust it).
inline void mixture_guess(const MixtureProbe& m, uint32_t slot, int64_t* gl, int64_t* gh) {
  const GuessTables& g = GuessTables::get();
  int64_t lo = g.guess(m.family, m.d->mean_q8[0], m.scale_idx[0], slot), hi = lo;
  for (int c = 1; c < m.d->k; ++c) {
    const int64_t q = g.guess(m.family, m.d->mean_q8[c], m.scale_idx[c], slot);
    lo = q < lo ? q : lo;
    hi = q > hi ? q : hi;
  }
  *gl = lo - 1;
  *gh = hi + 1;
}

// Find v in [lo, lo + n] with c(v) <= slot < c(v + 1) (v = lo + n: the escape), probing 4
// points per step: first the guessed bracket's ends and two points inside it, then 4 points
// splitting the remaining bracket evenly. eval4(t, out) computes c at 4 points of (lo, lo + n].
template <class Eval4>
inline int64_t mixture_search4(const MixtureProbe& m, uint32_t slot, Interval* iv, Eval4&& eval4) {
  const MixtureDist& d = *m.d;
  const int64_t lo = d.sup.lo, esc = lo + int64_t(d.sup.n);
  int64_t a = lo, b = esc;  // v in [a, b]; ca = c(a), cb = c(b + 1)
  uint32_t ca = 0, cb = kProbScale;
  int64_t t[4];
  uint32_t c[4];
  {
    int64_t gl, gh;
    mixture_guess(m, slot, &gl, &gh);
    const int64_t w = gh + 1 - gl;
    t[0] = gl, t[1] = gl + w / 3, t[2] = gl + (2 * w) / 3, t[3] = gh + 1;
    for (int i = 0; i < 4; ++i) t[i] = t[i] <= lo ? lo + 1 : (t[i] > esc ? esc : t[i]);
  }
  for (;;) {
    eval4(t, c);
    // c is non-decreasing along the sorted t: the first `le` probes have c <= slot.
    const int le = int(c[0] <= slot) + int(c[1] <= slot) + int(c[2] <= slot) + int(c[3] <= slot);
    if (le > 0 && t[le - 1] > a) a = t[le - 1], ca = c[le - 1];
    if (le < 4 && t[le] - 1 < b) b = t[le] - 1, cb = c[le];
    const int64_t w = b - a;
    if (w <= 0) break;
    if (w <= 4) {  // the last step: every candidate (repeats are harmless)
      for (int i = 0; i < 4; ++i) t[i] = a + 1 + (i < w ? i : w - 1);
    } else {
      for (int i = 0; i < 4; ++i) t[i] = a + ((w + 1) * (i + 1)) / 5;
    }
  }
  iv->start = ca;
  iv->freq = cb - ca;
  return a;
}

inline int64_t mixture_search_scalar(const MixtureProbe& m, uint32_t slot, Interval* iv) {
  return mixture_search4(m, slot, iv, [&](const int64_t* t, uint32_t* out) { mixture_cdf4_scalar(*m.d, t, out); });
}

#if NC_X86 && defined(__GNUC__)
__attribute__((target("avx2"), flatten)) inline int64_t mixture_search_avx2(const MixtureProbe& m, uint32_t slot,
                                                                            Interval* iv) {
  const uint64_t* pair = MixtureTables::get().pair[m.family];
  return mixture_search4(m, slot, iv, [&](const int64_t* t, uint32_t* out) { mixture_cdf4_avx2(*m.d, pair, t, out); });
}
#endif

}  // namespace nc
