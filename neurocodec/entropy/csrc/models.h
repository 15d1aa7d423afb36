// Entropy models as the coder sees them: for symbol i, a distribution with a support
// [lo, lo + n), an integer CDF c(v) on it (escape above c(lo + n)) and a search for decoding.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "guess.h"
#include "mixture.h"
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

// Decoding starts from the components' quantiles (mixture.h), on the AVX2 kernel when `simd`.
struct MixtureDistS : MixtureDist {
  int family_;
  bool simd;
  uint8_t scale_idx[kMaxMixture];  // of the kept components, in MixtureDist's order

  inline int64_t search(uint32_t slot, Interval* iv) const {
    const MixtureProbe m{this, family_, scale_idx};
#if NC_X86 && defined(__GNUC__)
    if (simd && sup.n >= kSimdMinSupport) return mixture_search_avx2(m, slot, iv);
#endif
    return mixture_search_scalar(m, slot, iv);
  }
};

struct MixtureSource {
  int family;
  int k;
  const int32_t* mean_q8;    // [N, k]
  const int32_t* scale_idx;  // [N, k]
  const int32_t* weight;     // [N, k], each row sums to 2^16
  bool simd = false;         // decode with the AVX2 kernel (only where simd_supported())

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
    d.family_ = family;
    d.simd = simd;
    for (int c = 0, kept = 0; c < k; ++c)
      if (weight[o + c] > 0) d.scale_idx[kept++] = uint8_t(scale_idx[o + c]);
    return d;
  }
};

}  // namespace nc
