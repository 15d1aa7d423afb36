"""Build of the C++ entropy coder (pybind11; no torch at build time)."""

from glob import glob

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

ext = Pybind11Extension(
    "neurocodec.entropy._core",
    ["neurocodec/entropy/csrc/binding.cpp"],
    include_dirs=["neurocodec/entropy/csrc"],
    depends=sorted(glob("neurocodec/entropy/csrc/*.h")),  # rebuild when a header changes
    cxx_std=20,
    # Integer-only coding path; keep the compiler from fusing or relaxing any float arithmetic.
    extra_compile_args=["-O3", "-ffp-contract=off", "-fno-fast-math", "-pthread"],
    extra_link_args=["-pthread"],
)

setup(ext_modules=[ext], cmdclass={"build_ext": build_ext})
