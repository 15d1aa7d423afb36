// Entropy models as the coder sees them: for symbol i, a distribution with a support
// [lo, lo + n), an integer CDF c(v) on it (escape above c(lo + n)) and a search for decoding.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "rans.h"

namespace nc {

// Invalid model parameters (maps to ValueError in Python).
struct ModelError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
// Corrupt, truncated or foreign stream (maps to neurocodec.errors.CorruptStreamError).
struct StreamError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- indexed CDF tables ----------------------------------------------------------------------

// Row t of `cdfs` holds c[0..n_t] with c[0] = 0, strictly increasing, c[n_t] <= 2^16 - 1 (the
// escape start); symbol value v codes slot k = v - offsets[t].
struct TableDist {
  const int32_t* c;
  Support sup;
  inline uint32_t cdf(int64_t v) const { return uint32_t(c[v - sup.lo]); }
  inline int64_t search(uint32_t slot, Interval* iv) const {
    // largest k in [0, n] with c[k] <= slot; k = n is the escape [c[n], 2^16)
    const int32_t* p = std::upper_bound(c, c + sup.n + 1, int32_t(slot)) - 1;
    const int64_t k = p - c;
    iv->start = uint32_t(p[0]);
    iv->freq = (k == int64_t(sup.n) ? kProbScale : uint32_t(p[1])) - uint32_t(p[0]);
    return sup.lo + k;
  }
};

struct TableSource {
  const int32_t* cdfs;
  int64_t stride;
  const int32_t* lengths;
  const int32_t* offsets;
  int64_t num_tables;
  const int32_t* index;

  static constexpr uint8_t tag() { return 0x10; }

  void validate() const {
    if (num_tables < 1) throw ModelError("table model needs at least one table");
    for (int64_t t = 0; t < num_tables; ++t) {
      const int32_t n = lengths[t];
      if (n < 1 || n + 1 > stride)
        throw ModelError("table " + std::to_string(t) + ": length " + std::to_string(n) +
                         " outside [1, " + std::to_string(stride - 1) + "]");
      const int32_t* c = cdfs + t * stride;
      if (c[0] != 0) throw ModelError("table " + std::to_string(t) + ": cdf[0] must be 0");
      for (int32_t k = 0; k < n; ++k)
        if (c[k + 1] <= c[k])
          throw ModelError("table " + std::to_string(t) + ": cdf must be strictly increasing");
      if (c[n] > int32_t(kProbScale) - 1)
        throw ModelError("table " + std::to_string(t) + ": escape needs cdf[n] <= 65535");
    }
  }

  inline TableDist get(size_t i) const {
    const int32_t t = index[i];
    if (t < 0 || t >= num_tables) throw ModelError("table index out of range");
    return TableDist{cdfs + int64_t(t) * stride, Support{offsets[t], uint32_t(lengths[t])}};
  }
};

// ---- parametric (Gaussian / Laplace / logistic) ----------------------------------------------

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

struct ParamDistS : ParamDist {
  inline int64_t search(uint32_t slot, Interval* iv) const {
    const int64_t v0 = GuessTables::get().guess(family, mean_q8, scale_idx, slot);
    return cdf_search_from(*this, slot, v0, iv);
  }
};

struct ParamSource {
  int family;
  const int32_t* mean_q8;
  const int32_t* scale_idx;

  uint8_t tag() const { return uint8_t(0x20 | family); }
  void validate() const {
    if (family < 0 || family >= kNumFamilies) throw ModelError("unknown distribution family");
  }
  inline ParamDistS get(size_t i) const {
    const int s = scale_idx[i];
    if (s < 0 || s >= kNumScales) throw ModelError("scale index out of range [0, 255]");
    ParamDistS d;
    d.family = family;
    d.mean_q8 = mean_q8[i];
    d.scale_idx = s;
    d.sup = parametric_support(family, d.mean_q8, s);
    return d;
  }
};

// ---- mixtures --------------------------------------------------------------------------------

struct MixtureDistS : MixtureDist {
  inline int64_t search(uint32_t slot, Interval* iv) const { return cdf_search(*this, slot, iv); }
};

struct MixtureSource {
  int family;
  int k;
  const int32_t* mean_q8;    // [N, k]
  const int32_t* scale_idx;  // [N, k]
  const int32_t* weight;     // [N, k], each row sums to 2^16

  uint8_t tag() const { return uint8_t(0x40 | (family << 3) | (k - 1)); }
  void validate() const {
    if (family < 0 || family >= kNumFamilies) throw ModelError("unknown distribution family");
    if (k < 1 || k > kMaxMixture) throw ModelError("mixtures have 1 to 8 components");
  }
  inline MixtureDistS get(size_t i) const {
    const size_t o = i * size_t(k);
    int64_t total = 0;
    for (int c = 0; c < k; ++c) {
      const int32_t w = weight[o + c], s = scale_idx[o + c];
      if (w < 0) throw ModelError("mixture weights must be >= 0");
      if (s < 0 || s >= kNumScales) throw ModelError("scale index out of range [0, 255]");
      total += w;
    }
    if (total != int64_t(kProbScale)) throw ModelError("mixture weights must sum to 65536");
    MixtureDistS d;
    d.set(family, k, mean_q8 + o, scale_idx + o, weight + o);
    return d;
  }
};

}  // namespace nc
