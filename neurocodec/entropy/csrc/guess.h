// Decoder starting points: coarse inverse CDFs of the families (host only). They change where
// a search starts, never its result.
#pragma once

#include <cstdint>

#include "rans.h"

namespace nc {

// Decoder guess for a parametric symbol: v0 = round(mean + scale * F^-1(slot / 2^16)), with
// F^-1 from a coarse table derived from the committed CDF table (host only; it changes where
// the search starts, never its result).
struct GuessTables {
  int32_t inv_cdf_q16[kNumFamilies][257];  // t at u = j / 256, Q16, in [-16, 16]
  int64_t scale_q16[kNumScales];

  GuessTables() {
    for (int f = 0; f < kNumFamilies; ++f) {
      int k = 0;
      for (int j = 0; j <= 256; ++j) {
        const uint64_t target = uint64_t(j) << 22;  // j / 256 in Q30
        while (k < kCdfSize - 1 && kCdfTable[f][k] < target) ++k;
        inv_cdf_q16[f][j] = (k - kCdfTMax * kCdfStepsPerUnit) << 9;
      }
    }
    for (int s = 0; s < kNumScales; ++s) scale_q16[s] = (int64_t(1) << 40) / kInvScale[s];
  }
  static const GuessTables& get() {
    static const GuessTables t;
    return t;
  }
  inline int64_t guess(int family, int32_t mean_q8, int scale_idx, uint32_t slot) const {
    const int32_t* inv = inv_cdf_q16[family];
    const uint32_t j = slot >> 8, r = slot & 255u;
    const int64_t t = inv[j] + ((int64_t(inv[j + 1] - inv[j]) * r) >> 8);
    const int64_t pos = (int64_t(mean_q8) << 8) + ((scale_q16[scale_idx] * t) >> 16);
    return (pos + (1 << 15)) >> 16;
  }
};

}  // namespace nc
