// Multi-lane rANS streams: symbol i goes to lane i % L; lanes are independent, so they can be
// coded on any number of threads (or GPU threads) with identical bytes.
//
// Stream layout (all integers little endian, varints are LEB128):
//   u8 version (=1) | u8 model tag | varint N (symbols) | varint L (lanes)
//   | L x varint lane byte length | lane 0 bytes | ... | lane L-1 bytes
// Lane bytes: u32 final encoder state, then the 16-bit renormalisation words in decode order.
// The decoder checks every length against the data before allocating, and that each lane
// ends exactly at its initial state with all its words consumed.
#pragma once

#include <atomic>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "models.h"

namespace nc {

constexpr uint8_t kStreamVersion = 1;
constexpr uint64_t kMaxLanes = 1u << 20;
constexpr uint64_t kMaxAutoLanes = 4096;
constexpr uint64_t kAutoSample = 4096;

// ---- varints ---------------------------------------------------------------------------------

inline void put_varint(std::vector<uint8_t>& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(uint8_t(v) | 0x80);
    v >>= 7;
  }
  out.push_back(uint8_t(v));
}

inline uint64_t get_varint(const uint8_t* data, size_t size, size_t& pos, uint64_t limit,
                           const char* what) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= size) throw StreamError(std::string("entropy stream truncated in ") + what);
    const uint8_t b = data[pos++];
    if (shift == 63 && (b & 0x7E)) throw StreamError(std::string("entropy stream: varint overflow in ") + what);
    v |= uint64_t(b & 0x7F) << shift;
    if (!(b & 0x80)) {
      if (v > limit) throw StreamError(std::string("entropy stream: implausible ") + what);
      return v;
    }
  }
  throw StreamError(std::string("entropy stream: malformed varint in ") + what);
}

// ---- threads ---------------------------------------------------------------------------------

// Run fn(first, last) on `threads` threads, each over one contiguous block [first, last) of
// the lanes [0, L); rethrows the first exception after all threads joined.
template <class Fn>
void for_lane_blocks(uint64_t L, int threads, Fn fn) {
  const uint64_t T = std::max<uint64_t>(1, std::min<uint64_t>(uint64_t(std::max(threads, 1)), L));
  if (T == 1) {
    fn(uint64_t(0), L);
    return;
  }
  std::exception_ptr err;
  std::mutex mu;
  std::vector<std::thread> pool;
  for (uint64_t t = 0; t < T; ++t) {
    pool.emplace_back([&, t] {
      try {
        fn(t * L / T, (t + 1) * L / T);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!err) err = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  if (err) std::rethrow_exception(err);
}

// Run fn(lane) for lanes [0, L) on `threads` threads (contiguous blocks); rethrows the first
// exception after all threads joined.
template <class Fn>
void for_lanes(uint64_t L, int threads, Fn fn) {
  std::atomic<bool> failed{false};
  for_lane_blocks(L, threads, [&](uint64_t first, uint64_t last) {
    try {
      for (uint64_t j = first; j < last && !failed.load(std::memory_order_relaxed); ++j) fn(j);
    } catch (...) {
      failed = true;
      throw;
    }
  });
}

inline uint64_t symbols_in_lane(uint64_t n, uint64_t L, uint64_t lane) {
  return lane < n ? (n - lane + L - 1) / L : 0;
}

// ---- per-symbol coding -----------------------------------------------------------------------

// Approximate cost in 1/256 bits of an interval of frequency f (integer log2 with a linear
// mantissa; used only to choose the lane count).
inline uint64_t approx_cost_q8(uint32_t f) {
  int e = 31 - __builtin_clz(f);
  const uint32_t mant = uint32_t((uint64_t(f - (1u << e)) << 8) >> e);
  return uint64_t((16 << 8) - ((e << 8) + int(mant)));
}

// Code length helpers shared by the encoder, the estimator and freqs(): for symbol value v,
// calls emit(interval) for each coded interval in *decode* order.
template <class Dist, class Emit>
inline void symbol_intervals(const Dist& d, int64_t v, Emit&& emit) {
  const int64_t lo = d.sup.lo, hi = d.sup.lo + int64_t(d.sup.n) - 1;
  if (v >= lo && v <= hi) {
    const uint32_t c0 = d.cdf(v);
    const uint32_t c1 = d.cdf(v + 1);  // c(hi + 1) is the escape start
    emit(Interval{c0, c1 - c0});
    return;
  }
  const uint32_t c_end = d.cdf(hi + 1);
  emit(Interval{c_end, kProbScale - c_end});
  const uint64_t z = escape_payload(v, lo, hi) + 1;
  const int nb = bit_length(z) - 1;
  emit(uniform_interval(uint32_t(nb), kBypassLenBits));
  for (int j = 0; j * 16 < nb; ++j) {
    const int w = std::min(16, nb - 16 * j);
    emit(uniform_interval(uint32_t((z >> (16 * j)) & ((1u << w) - 1)), w));
  }
}

template <class Source>
uint64_t auto_lanes(const Source& m, const int32_t* sym, uint64_t n, uint64_t target_lane_bytes) {
  if (n == 0) return 0;
  const uint64_t S = std::min(n, kAutoSample);
  uint64_t cost = 0;
  for (uint64_t s = 0; s < S; ++s) {
    const uint64_t i = s * n / S;
    symbol_intervals(m.get(i), sym[i], [&](Interval iv) { cost += approx_cost_q8(iv.freq); });
  }
  const uint64_t est_bytes = (cost * n / S) / (8 * 256);
  uint64_t L = est_bytes / std::max<uint64_t>(target_lane_bytes, 1);
  return std::max<uint64_t>(1, std::min({L, n, kMaxAutoLanes}));
}

// ---- encoder ---------------------------------------------------------------------------------

template <class Source>
std::vector<uint8_t> encode_stream(const Source& m, const int32_t* sym, uint64_t n, int64_t lanes,
                                   int threads, uint64_t target_lane_bytes) {
  m.validate();
  uint64_t L;
  if (lanes <= 0) {
    L = auto_lanes(m, sym, n, target_lane_bytes);
  } else {
    L = std::min<uint64_t>(uint64_t(lanes), n);
    if (uint64_t(lanes) > kMaxLanes) throw ModelError("at most 2^20 lanes");
  }
  std::vector<std::vector<uint16_t>> words(L);
  std::vector<uint32_t> states(L);
  for_lanes(L, threads, [&](uint64_t lane) {
    std::vector<uint16_t>& out = words[lane];
    out.reserve(std::max<uint64_t>(16, target_lane_bytes / 2 + 16));
    uint32_t x = kRansL;
    Interval stack[2 + (kMaxBypassBits + 15) / 16];
    const uint64_t cnt = symbols_in_lane(n, L, lane);
    for (uint64_t k = cnt; k-- > 0;) {
      const uint64_t i = lane + k * L;
      int depth = 0;
      symbol_intervals(m.get(i), sym[i], [&](Interval iv) { stack[depth++] = iv; });
      while (depth > 0) {  // rANS is LIFO: encode in reverse decode order
        uint16_t w;
        if (rans_put(x, stack[--depth], &w)) out.push_back(w);
      }
    }
    states[lane] = x;
  });
  std::vector<uint8_t> res;
  size_t total = 0;
  for (auto& w : words) total += 4 + 2 * w.size();
  res.reserve(total + 16 + 4 * L);
  res.push_back(kStreamVersion);
  res.push_back(m.tag());
  put_varint(res, n);
  put_varint(res, L);
  for (auto& w : words) put_varint(res, 4 + 2 * w.size());
  for (uint64_t j = 0; j < L; ++j) {
    const uint32_t x = states[j];
    for (int b = 0; b < 4; ++b) res.push_back(uint8_t(x >> (8 * b)));
    const auto& w = words[j];
    for (size_t q = w.size(); q-- > 0;) {
      res.push_back(uint8_t(w[q]));
      res.push_back(uint8_t(w[q] >> 8));
    }
  }
  return res;
}

// ---- decoder ---------------------------------------------------------------------------------

struct LaneReader {
  const uint8_t* p;
  size_t pos, end;  // in bytes
  uint32_t x;

  inline void renorm() {
    if (x < kRansL) {
      if (pos + 2 > end) throw StreamError("entropy stream truncated (lane ran out of words)");
      x = (x << 16) | (uint32_t(p[pos]) | (uint32_t(p[pos + 1]) << 8));
      pos += 2;
    }
  }
  inline void advance(Interval iv) {
    x = rans_advance(x, iv);
    renorm();
  }
  inline uint32_t read_uniform(int bits) {
    const uint32_t v = (x & (kProbScale - 1)) >> (16 - bits);
    advance(uniform_interval(v, bits));
    return v;
  }
};

template <class Source>
void decode_stream(const Source& m, const uint8_t* data, size_t size, uint64_t n, int32_t* out,
                   int threads) {
  m.validate();
  size_t pos = 0;
  if (size < 2) throw StreamError("entropy stream truncated (no header)");
  if (data[0] != kStreamVersion)
    throw StreamError("unsupported entropy stream version " + std::to_string(data[0]));
  if (data[1] != m.tag())
    throw StreamError("entropy stream was coded with another kind of model");
  pos = 2;
  const uint64_t sn = get_varint(data, size, pos, uint64_t(1) << 40, "symbol count");
  if (sn != n)
    throw StreamError("entropy stream holds " + std::to_string(sn) + " symbols, model expects " +
                      std::to_string(n));
  const uint64_t L = get_varint(data, size, pos, std::min<uint64_t>(n, kMaxLanes), "lane count");
  if (n > 0 && L == 0) throw StreamError("entropy stream has no lanes");
  if (L * 5 > size - pos) throw StreamError("entropy stream truncated (lane table)");
  std::vector<uint64_t> offs(L + 1);
  uint64_t acc = 0;
  for (uint64_t j = 0; j < L; ++j) {
    const uint64_t len = get_varint(data, size, pos, size, "lane length");
    if (len < 4 || (len & 1)) throw StreamError("entropy stream: malformed lane length");
    offs[j] = acc;
    acc += len;
    if (acc > size) throw StreamError("entropy stream truncated (lane data)");
  }
  offs[L] = acc;
  if (pos + acc != size)
    throw StreamError(pos + acc > size ? "entropy stream truncated (lane data)"
                                       : "entropy stream has trailing bytes");
  const uint8_t* base = data + pos;
  // Each thread decodes its block of lanes interleaved, symbol by symbol in stream order: the
  // model parameters are read sequentially and the lanes' independent searches overlap.
  for_lane_blocks(L, threads, [&](uint64_t first, uint64_t last) {
    std::vector<LaneReader> rs(last - first);
    for (uint64_t lane = first; lane < last; ++lane) {
      LaneReader& r = rs[lane - first];
      r = LaneReader{base, size_t(offs[lane]) + 4, size_t(offs[lane + 1]), 0};
      const uint8_t* s = base + offs[lane];
      r.x = uint32_t(s[0]) | (uint32_t(s[1]) << 8) | (uint32_t(s[2]) << 16) | (uint32_t(s[3]) << 24);
      if (r.x < kRansL) throw StreamError("entropy stream: invalid lane state");
    }
    const uint64_t rounds = symbols_in_lane(n, L, first);  // lanes below n % L hold one more
    for (uint64_t k = 0; k < rounds; ++k) {
      const uint64_t row = k * L;
      const uint64_t end = std::min(last, n - row);  // the last round may stop early
      for (uint64_t lane = first; lane < end; ++lane) {
        LaneReader& r = rs[lane - first];
        const uint64_t i = lane + row;
        const auto d = m.get(i);
        const int64_t lo = d.sup.lo, hi = d.sup.lo + int64_t(d.sup.n) - 1;
        Interval iv;
        int64_t v = d.search(r.x & (kProbScale - 1), &iv);
        r.advance(iv);
        if (v > hi) {  // the escape: a 6-bit length, then raw bits
          const int nb = int(r.read_uniform(kBypassLenBits));
          if (nb > kMaxBypassBits) throw StreamError("entropy stream: invalid escape length");
          uint64_t z = uint64_t(1) << nb;
          for (int j = 0; j * 16 < nb; ++j) z |= uint64_t(r.read_uniform(std::min(16, nb - 16 * j))) << (16 * j);
          v = escape_value(z - 1, lo, hi);
          if (v < INT32_MIN || v > INT32_MAX) throw StreamError("entropy stream: escape out of range");
        }
        out[i] = int32_t(v);
      }
    }
    for (const LaneReader& r : rs)
      if (r.x != kRansL || r.pos != r.end)
        throw StreamError("entropy stream corrupt (lane did not end in its initial state)");
  });
}

// Frequency of each symbol's main interval and the bypass bits of escapes: the exact ideal code
// length is sum(16 - log2 freq) + sum(bypass bits).
template <class Source>
void symbol_costs(const Source& m, const int32_t* sym, uint64_t n, uint32_t* freq, int32_t* extra) {
  m.validate();
  for (uint64_t i = 0; i < n; ++i) {
    int q = 0;
    int32_t bits = 0;
    symbol_intervals(m.get(i), sym[i], [&](Interval iv) {
      if (q++ == 0) freq[i] = iv.freq;
      else bits += 16 - __builtin_ctz(iv.freq);  // uniform: freq = 2^(16 - w)
    });
    extra[i] = bits;
  }
}

}  // namespace nc
