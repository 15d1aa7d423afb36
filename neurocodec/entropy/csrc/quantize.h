// Float-to-integer step for entropy parameters on the CPU. Defined to give exactly the integers
// of the torch implementation in models.py (which the GPU path uses): every operation is a
// single correctly rounded IEEE operation in the input's precision, in a fixed order.
#pragma once

#include <cmath>
#include <cstdint>

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
// Branch-free count over the 255 boundaries padded with +inf to 256 entries.
inline void quantize_scales(const float* s, int32_t* out, size_t n) {
  static_assert(kNumScales == 256, "the search below assumes 256 levels");
  float b[256];
  for (int j = 0; j < 255; ++j) b[j] = kScaleBounds[j];
  b[255] = INFINITY;
  for (size_t i = 0; i < n; ++i) {
    const float v = std::isnan(s[i]) ? 0.0f : s[i];
    int idx = 0;
    for (int step = 128; step > 0; step >>= 1) idx += step & -int(v >= b[idx + step - 1]);
    out[i] = idx;
  }
}

// Mixture weights [n, k] -> Q16 summing to 2^16: w = w if finite and > 0 else 0; q = floor(w / max(sum, 1e-30)
// * 2^16) with sum taken in component order; the deficit goes to the first largest q.
template <class F>
void quantize_weights(const F* w, int32_t* out, size_t n, int k) {
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
      const F v = pos(wi[c]);
      qi[c] = int32_t(std::floor(v / total * F(kProbScale)));
      qsum += qi[c];
      if (qi[c] > qi[best]) best = c;
    }
    qi[best] += int32_t(kProbScale) - qsum;
  }
}

}  // namespace nc
