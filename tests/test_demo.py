"""The demo's job: a real photo through the entropy layer and the container, bit-exact."""

from neurocodec import demo


def test_demo_roundtrip_is_exact_and_compresses():
    res = demo.run()
    assert res["exact"]
    assert res["pixels"] == 512 * 600
    # left-neighbour residuals of a natural photo: well under 8 bits per symbol
    assert 3.0 < res["bits_per_symbol"] < 6.5
