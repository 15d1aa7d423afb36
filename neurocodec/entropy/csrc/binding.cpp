// pybind11 binding of the CPU entropy coder: neurocodec.entropy._core.
// Arrays arrive as C-contiguous int32 (the Python side converts and checks dtypes); the GIL is
// released while coding.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "lanes.h"
#include "quantize.h"

namespace py = pybind11;
using I32 = py::array_t<int32_t, py::array::c_style>;

namespace {

const int32_t* ptr(const I32& a) { return a.data(); }

void check_len(const I32& a, py::ssize_t n, const char* what) {
  if (a.size() != n) throw nc::ModelError(std::string(what) + " must have one entry per symbol");
}

template <class Source>
py::bytes encode_with(const Source& src, const I32& symbols, int64_t lanes, int threads,
                      uint64_t target) {
  std::vector<uint8_t> out;
  {
    py::gil_scoped_release nogil;
    out = nc::encode_stream(src, symbols.data(), uint64_t(symbols.size()), lanes, threads, target);
  }
  return py::bytes(reinterpret_cast<const char*>(out.data()), out.size());
}

template <class Source>
I32 decode_with(const Source& src, const py::buffer& data, py::ssize_t n, int threads) {
  py::buffer_info info = data.request();
  if (info.ndim != 1 || info.itemsize != 1) throw nc::ModelError("stream must be a byte buffer");
  I32 out(n);
  int32_t* o = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    nc::decode_stream(src, static_cast<const uint8_t*>(info.ptr), size_t(info.size), uint64_t(n),
                      o, threads);
  }
  return out;
}

template <class Source>
py::tuple costs_with(const Source& src, const I32& symbols) {
  const py::ssize_t n = symbols.size();
  py::array_t<uint32_t> freq(n);
  I32 extra(n);
  {
    py::gil_scoped_release nogil;
    nc::symbol_costs(src, symbols.data(), uint64_t(n), freq.mutable_data(), extra.mutable_data());
  }
  return py::make_tuple(freq, extra);
}

nc::TableSource table_source(const I32& index, const I32& cdfs, const I32& lengths,
                             const I32& offsets) {
  if (cdfs.ndim() != 2) throw nc::ModelError("cdfs must be a 2-D array [tables, entries]");
  const int64_t t = cdfs.shape(0);
  if (lengths.size() != t || offsets.size() != t)
    throw nc::ModelError("lengths and offsets need one entry per table");
  return nc::TableSource{ptr(cdfs), cdfs.shape(1), ptr(lengths), ptr(offsets), t, ptr(index)};
}

nc::ParamSource param_source(int family, const I32& means, const I32& scale_idx, py::ssize_t n) {
  check_len(means, n, "means");
  check_len(scale_idx, n, "scale indexes");
  return nc::ParamSource{family, ptr(means), ptr(scale_idx)};
}

nc::MixtureSource mixture_source(int family, const I32& means, const I32& scale_idx,
                                 const I32& weights, py::ssize_t n) {
  if (means.ndim() != 2 || means.shape(0) != n)
    throw nc::ModelError("mixture means must be [N, K]");
  const int k = int(means.shape(1));
  if (scale_idx.ndim() != 2 || scale_idx.shape(0) != n || scale_idx.shape(1) != k ||
      weights.ndim() != 2 || weights.shape(0) != n || weights.shape(1) != k)
    throw nc::ModelError("mixture means, scale indexes and weights must all be [N, K]");
  return nc::MixtureSource{family, k, ptr(means), ptr(scale_idx), ptr(weights), nc::simd_switch().load()};
}

template <class T, size_t N>
py::array_t<T> to_array(const T (&a)[N]) {
  return py::array_t<T>(py::ssize_t(N), a);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "neurocodec CPU rANS entropy coder (integer-exact, multi-lane)";
  py::register_exception<nc::StreamError>(
      m, "StreamError", py::module_::import("neurocodec.errors").attr("CorruptStreamError"));
  py::register_exception<nc::ModelError>(m, "ModelError", PyExc_ValueError);

  m.attr("PROB_BITS") = nc::kProbBits;
  m.attr("MEAN_FRAC_BITS") = nc::kMeanFracBits;
  m.attr("NUM_SCALES") = nc::kNumScales;
  m.attr("MAX_MIXTURE") = nc::kMaxMixture;
  m.attr("STREAM_VERSION") = nc::kStreamVersion;

  m.def("simd_supported", &nc::simd_supported,
        "Whether this CPU runs the AVX2 mixture kernel (x86-64 with AVX2).");
  m.def("simd_enabled", [] { return nc::simd_switch().load(); },
        "Whether mixtures are decoded with the AVX2 kernel.");
  m.def("set_simd", [](bool on) {
    const bool before = nc::simd_switch().load();
    nc::simd_switch().store(on && nc::simd_supported());
    return before;
  }, py::arg("enabled"),
        "Use the AVX2 mixture kernel (where supported) or the scalar one; returns the previous "
        "setting. Both give identical symbols and bytes.");

  m.def("mixture_cdfs", [](int family, const I32& means, const I32& scale_idx, const I32& weights,
                           bool simd) {
    // One mixture [K]: its support and c(v) at every v in (lo, lo + n], by the scalar CDF or the
    // AVX2 kernel (8 points per call), for tests of the kernels' integers.
    const int k = int(means.size());
    if (scale_idx.size() != k || weights.size() != k) throw nc::ModelError("means, scales, weights: [K] each");
    const nc::MixtureSource src{family, k, ptr(means), ptr(scale_idx), ptr(weights)};
    src.validate();
    const nc::MixtureDistS d = src.get(0);
    I32 out(py::ssize_t(d.sup.n));
    int32_t* o = out.mutable_data();
    if (simd && !nc::simd_supported()) throw nc::ModelError("this CPU has no AVX2");
    for (int64_t base = 0; base < int64_t(d.sup.n); base += nc::kProbes) {
      alignas(32) int64_t t[nc::kProbes];
      alignas(32) uint32_t c[nc::kProbes];
      for (int i = 0; i < nc::kProbes; ++i) t[i] = d.sup.lo + 1 + std::min<int64_t>(base + i, d.sup.n - 1);
#if NC_X86 && defined(__GNUC__)
      if (simd) nc::mixture_cdf_avx2_points(d, family, t, c);
      else
#endif
        for (int i = 0; i < nc::kProbes; ++i) c[i] = d.cdf(t[i]);
      for (int i = 0; i < nc::kProbes && base + i < int64_t(d.sup.n); ++i) o[base + i] = int32_t(c[i]);
    }
    return py::make_tuple(d.sup.lo, out);
  }, "(lo, c[v] for v in lo + 1 .. lo + n) of one mixture [K]; test hook for the CDF kernels.");

  m.def("tables", [] {
    py::dict d;
    py::array_t<uint32_t> cdf({nc::kNumFamilies, nc::kCdfSize});
    std::memcpy(cdf.mutable_data(), nc::kCdfTable, sizeof(nc::kCdfTable));
    py::array_t<int32_t> hw({nc::kNumFamilies, nc::kNumScales});
    std::memcpy(hw.mutable_data(), nc::kHalfWidth, sizeof(nc::kHalfWidth));
    d["cdf_q30"] = cdf;
    d["half_width"] = hw;
    d["inv_scale_q24"] = to_array(nc::kInvScale);
    d["scale_bounds"] = to_array(nc::kScaleBounds);
    d["scales"] = to_array(nc::kScales);
    return d;
  }, "The integer constant tables (family CDFs in Q30, scales, support half-widths).");

  m.def("quantize_means", [](const py::array& a) {
    I32 out(a.size());
    if (a.dtype().is(py::dtype::of<float>())) {
      auto f = py::array_t<float, py::array::c_style>::ensure(a);
      py::gil_scoped_release nogil;
      nc::quantize_means(f.data(), out.mutable_data(), size_t(f.size()));
    } else {
      auto f = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(a);
      py::gil_scoped_release nogil;
      nc::quantize_means(f.data(), out.mutable_data(), size_t(f.size()));
    }
    return out;
  });
  m.def("quantize_scales", [](const py::array_t<float, py::array::c_style | py::array::forcecast>& s) {
    I32 out(s.size());
    py::gil_scoped_release nogil;
    nc::quantize_scales(s.data(), out.mutable_data(), size_t(s.size()));
    return out;
  });
  m.def("quantize_weights", [](const py::array& a, int k) {
    if (k < 1 || a.size() % k) throw nc::ModelError("weights must be [N, K]");
    I32 out(a.size());
    if (a.dtype().is(py::dtype::of<float>())) {
      auto f = py::array_t<float, py::array::c_style>::ensure(a);
      py::gil_scoped_release nogil;
      nc::quantize_weights(f.data(), out.mutable_data(), size_t(f.size() / k), k);
    } else {
      auto f = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(a);
      py::gil_scoped_release nogil;
      nc::quantize_weights(f.data(), out.mutable_data(), size_t(f.size() / k), k);
    }
    return out;
  });

  m.def("encode_table",
        [](const I32& symbols, const I32& index, const I32& cdfs, const I32& lengths,
           const I32& offsets, int64_t lanes, int threads, uint64_t target) {
          check_len(index, symbols.size(), "indexes");
          return encode_with(table_source(index, cdfs, lengths, offsets), symbols, lanes, threads,
                             target);
        });
  m.def("decode_table", [](const py::buffer& data, const I32& index, const I32& cdfs,
                           const I32& lengths, const I32& offsets, int threads) {
    return decode_with(table_source(index, cdfs, lengths, offsets), data, index.size(), threads);
  });
  m.def("costs_table", [](const I32& symbols, const I32& index, const I32& cdfs,
                          const I32& lengths, const I32& offsets) {
    check_len(index, symbols.size(), "indexes");
    return costs_with(table_source(index, cdfs, lengths, offsets), symbols);
  });

  m.def("encode_param", [](const I32& symbols, int family, const I32& means, const I32& scale_idx,
                           int64_t lanes, int threads, uint64_t target) {
    return encode_with(param_source(family, means, scale_idx, symbols.size()), symbols, lanes,
                       threads, target);
  });
  m.def("decode_param", [](const py::buffer& data, int family, const I32& means,
                           const I32& scale_idx, int threads) {
    return decode_with(param_source(family, means, scale_idx, means.size()), data, means.size(),
                       threads);
  });
  m.def("costs_param", [](const I32& symbols, int family, const I32& means, const I32& scale_idx) {
    return costs_with(param_source(family, means, scale_idx, symbols.size()), symbols);
  });

  m.def("encode_mixture", [](const I32& symbols, int family, const I32& means,
                             const I32& scale_idx, const I32& weights, int64_t lanes, int threads,
                             uint64_t target) {
    return encode_with(mixture_source(family, means, scale_idx, weights, symbols.size()), symbols,
                       lanes, threads, target);
  });
  m.def("decode_mixture", [](const py::buffer& data, int family, const I32& means,
                             const I32& scale_idx, const I32& weights, int threads) {
    const py::ssize_t n = means.ndim() == 2 ? means.shape(0) : -1;
    return decode_with(mixture_source(family, means, scale_idx, weights, n), data, n, threads);
  });
  m.def("costs_mixture", [](const I32& symbols, int family, const I32& means, const I32& scale_idx,
                            const I32& weights) {
    return costs_with(mixture_source(family, means, scale_idx, weights, symbols.size()), symbols);
  });
}
