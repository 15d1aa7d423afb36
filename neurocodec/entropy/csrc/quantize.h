// Float-to-integer step for entropy parameters on the CPU. Defined to give exactly the integers
// of the torch implementation in models.py (which the GPU path uses): every operation is a
// single correctly rounded IEEE operation in the input's precision, in a fixed order.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "rans.h"

namespace nc {

// Q8 means: round-half-even(clamp(m * 2^8, -(2^31 - 128), 2^31 - 128)); NaN -> 0.
template <class F>
void quantize_means(const F* m, int32_t* out, size_t n) {
  const F lim = F(2147483520.0);  // 2^31 - 128, representable in float32 and float64
  for (size_t i = 0; i < n; ++i) {
    F v = m[i] * F(1 << kMeanFracBits);
    if (std::isnan(v)) v = F(0);
    v = v < -lim ? -lim : (v > lim ? lim : v);
    out[i] = int32_t(std::nearbyint(v));
  }
}

// Scale index: the number of float32 level boundaries <= s (NaN -> 0).
//
// For s >= +0 (and not NaN) the float's bit pattern orders like its value, and its top 15 bits
// (exponent and 6 mantissa bits) name a bucket narrower than the levels' spacing (a factor of
// 1 + 2^-6 against 4 %): a table gives the count of boundaries below the bucket, and one
// comparison settles the boundary inside it. Checked at construction; if a bucket held two
// boundaries, the branch-free binary search over the 255 boundaries is used instead.
struct ScaleIndexTable {
  static constexpr int kShift = 17;
  static constexpr uint32_t kInfBits = 0x7F800000u;
  uint8_t base[(kInfBits >> kShift) + 1];
  uint32_t bound_bits[256];  // boundary bit patterns, padded with a value no float exceeds
  float bounds[256];         // for the fallback: padded with +inf
  bool exact;

  ScaleIndexTable() {
    for (int j = 0; j < 255; ++j) {
      bounds[j] = kScaleBounds[j];
      std::memcpy(&bound_bits[j], &kScaleBounds[j], 4);
    }
    bounds[255] = INFINITY;
    bound_bits[255] = 0xFFFFFFFFu;
    exact = kScaleBounds[0] > 0.0f;
    int idx = 0;
    for (uint32_t key = 0; key <= (kInfBits >> kShift); ++key) {
      const uint32_t start = key << kShift, end = start + ((1u << kShift) - 1);
      while (idx < 255 && bound_bits[idx] < start) ++idx;
      base[key] = uint8_t(idx);
      int inside = 0;  // boundaries in [start, end]
      for (int j = idx; j < 255 && bound_bits[j] <= end; ++j) ++inside;
      exact &= inside <= 1;
    }
  }
  static const ScaleIndexTable& get() {
    static const ScaleIndexTable t;
    return t;
  }
  inline int index(float s) const {
    uint32_t bits;
    std::memcpy(&bits, &s, 4);
    if (bits > kInfBits) return 0;  // negative (sign bit set) or NaN: below every boundary
    const int b = base[bits >> kShift];
    return b + int(bits >= bound_bits[b]);
  }
  inline int index_search(float s) const {
    const float v = std::isnan(s) ? 0.0f : s;
    int idx = 0;
    for (int step = 128; step > 0; step >>= 1) idx += step & -int(v >= bounds[idx + step - 1]);
    return idx;
  }
};

inline void quantize_scales(const float* s, int32_t* out, size_t n) {
  static_assert(kNumScales == 256, "the search below assumes 256 levels");
  const ScaleIndexTable& t = ScaleIndexTable::get();
  if (t.exact) {
    for (size_t i = 0; i < n; ++i) out[i] = t.index(s[i]);
  } else {
    for (size_t i = 0; i < n; ++i) out[i] = t.index_search(s[i]);
  }
}

// Mixture weights [n, k] -> Q16 summing to 2^16: w = w if finite and > 0 else 0; q = floor(w / max(sum, 1e-30)
// * 2^16) with sum taken in component order; the deficit goes to the first largest q.
// (w <= sum, so w / sum * 2^16 is in [0, 2^16]: floor is the truncating conversion.)
template <class F, int K>
void quantize_weights_k(const F* w, int32_t* out, size_t n) {
  const F tiny = F(1e-30);
  for (size_t i = 0; i < n; ++i) {
    const F* wi = w + i * K;
    int32_t* qi = out + i * K;
    F v[K];
    for (int c = 0; c < K; ++c) v[c] = std::isfinite(wi[c]) && wi[c] > F(0) ? wi[c] : F(0);
    F total = v[0];
    for (int c = 1; c < K; ++c) total = total + v[c];
    if (total < tiny) total = tiny;
    int32_t q[K], qsum = 0, qmax = 0;
    for (int c = 0; c < K; ++c) {
      q[c] = int32_t(v[c] / total * F(kProbScale));
      qsum += q[c];
      qmax = std::max(qmax, q[c]);
    }
    int best = K - 1;  // the first largest, found without data-dependent branches
    for (int c = K - 2; c >= 0; --c) best = q[c] == qmax ? c : best;
    for (int c = 0; c < K; ++c) qi[c] = q[c];
    qi[best] += int32_t(kProbScale) - qsum;
  }
}

template <class F>
void quantize_weights(const F* w, int32_t* out, size_t n, int k) {
  switch (k) {
    case 1: return quantize_weights_k<F, 1>(w, out, n);
    case 2: return quantize_weights_k<F, 2>(w, out, n);
    case 3: return quantize_weights_k<F, 3>(w, out, n);
    case 4: return quantize_weights_k<F, 4>(w, out, n);
    case 5: return quantize_weights_k<F, 5>(w, out, n);
    case 6: return quantize_weights_k<F, 6>(w, out, n);
    case 7: return quantize_weights_k<F, 7>(w, out, n);
    case 8: return quantize_weights_k<F, 8>(w, out, n);
    default: break;
  }
  // any other K (the coder takes 1..8; the quantiser does not limit it)
  const F tiny = F(1e-30);
  for (size_t i = 0; i < n; ++i) {
    const F* wi = w + i * k;
    int32_t* qi = out + i * k;
    auto pos = [](F v) { return std::isfinite(v) && v > F(0) ? v : F(0); };
    F total = pos(wi[0]);
    for (int c = 1; c < k; ++c) total = total + pos(wi[c]);
    if (total < tiny) total = tiny;
    int32_t qsum = 0, best = 0;
    for (int c = 0; c < k; ++c) {
      qi[c] = int32_t(pos(wi[c]) / total * F(kProbScale));
      qsum += qi[c];
      if (qi[c] > qi[best]) best = c;
    }
    qi[best] += int32_t(kProbScale) - qsum;
  }
}

}  // namespace nc
