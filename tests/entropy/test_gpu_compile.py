"""The Triton kernels compile for an H100 (sm_90), without a GPU: catches what the
interpreter does not check (types, layouts, register spills)."""

from __future__ import annotations

import pytest

triton = pytest.importorskip("triton")

from triton.backends.compiler import GPUTarget  # noqa: E402

PTRS = {
    "sym_ptr": "*i32", "lane_base_ptr": "*i64", "lane_j_ptr": "*i32", "lane_L_ptr": "*i32",
    "lane_n_ptr": "*i64", "buf_ptr": "*i16", "buf_base_ptr": "*i64", "cap_ptr": "*i32",
    "count_ptr": "*i32", "state_ptr": "*i64", "words_ptr": "*i16", "lane_pos_ptr": "*i64",
    "lane_end_ptr": "*i64", "out_ptr": "*i32", "err_ptr": "*i32", "out_off_ptr": "*i64",
}
INTS = {"n_lanes": "i32", "stride": "i32"}


def compile_sm90(fn, consts: dict, num_warps: int = 1):
    sig = {a: "constexpr" if a in consts else INTS.get(a, PTRS.get(a, "*i32")) for a in fn.arg_names}
    src = triton.compiler.ASTSource(fn=fn, signature=sig, constexprs=consts)
    try:
        return triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": num_warps})
    except FileNotFoundError as e:  # pragma: no cover - a Triton install without ptxas
        pytest.skip(f"no ptxas: {e}")


@pytest.mark.parametrize("kind,family,k", [(0, 0, 1), (1, 0, 1), (1, 2, 1), (2, 0, 1), (2, 1, 4), (2, 2, 8)])
def test_kernels_compile_for_sm90(kind, family, k):
    from neurocodec.entropy.gpu import kernels

    consts = dict(KIND=kind, FAMILY=family, K=k, KP=max(1, 1 << (k - 1).bit_length()) if kind == 2 else 1, BLOCK=32)
    for fn in (kernels.encode_kernel, kernels.decode_kernel):
        c = compile_sm90(fn, consts)
        assert c.asm["cubin"]


def test_compact_kernel_compiles_for_sm90():
    from neurocodec.entropy.gpu import kernels

    assert compile_sm90(kernels.compact_kernel, {"BLOCK": 32}).asm["cubin"]
