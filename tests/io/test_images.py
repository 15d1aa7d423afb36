"""The image input policy: what is converted, what is refused, with which message."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from neurocodec.errors import InputError
from neurocodec.io.images import load_image, load_image_info, save_image


def test_policy(tmp_path):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    assert out.shape == (5, 7, 3) and (out == gray[:, :, None]).all()

    g16 = (rng.integers(0, 65536, (4, 4))).astype(np.uint16)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    out = load_image(tmp_path / "g16.png")
    np.testing.assert_array_equal(out[:, :, 0], np.round(g16 * 255.0 / 65535).astype(np.uint8))

    rgba = np.concatenate([rng.integers(0, 256, (3, 3, 3), dtype=np.uint8), np.full((3, 3, 1), 255, np.uint8)], 2)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "opaque.png")
    np.testing.assert_array_equal(load_image(tmp_path / "opaque.png"), rgba[:, :, :3])
    rgba[1, 1, 3] = 10
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    with pytest.raises(InputError, match="transparency"):
        load_image(tmp_path / "alpha.png")

    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match="cannot read"):
        load_image(tmp_path / "bad.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError):
        load_image(tmp_path / "empty.png")


def _gradient(h: int, w: int) -> np.ndarray:
    """A smooth RGB image whose orientation is unmistakable (different ramps per axis)."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) * 255 // (h + w - 2)], 2).astype(np.uint8)


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def test_exif_orientation_is_applied(tmp_path):
    rgb = _gradient(32, 48)  # stored 48 wide, 32 high
    viewer = np.rot90(rgb, k=-1)  # orientation 6: the viewer turns it 90 degrees clockwise
    Image.fromarray(rgb).save(tmp_path / "rot.jpg", quality=95, exif=_exif(6))
    with Image.open(tmp_path / "rot.jpg") as img:
        assert img.size == (48, 32) and img.getexif()[0x0112] == 6
    out = load_image(tmp_path / "rot.jpg")
    assert out.shape == (48, 32, 3) and out.dtype == np.uint8  # 32 wide, 48 high
    err = np.abs(out.astype(int) - viewer).mean()
    assert err < 3, err  # JPEG loss only; the other rotation is far off:
    assert np.abs(out.astype(int) - np.rot90(rgb, k=1)).mean() > 40

    Image.fromarray(rgb).save(tmp_path / "rot.png", exif=_exif(6))  # lossless: exact pixels
    np.testing.assert_array_equal(load_image(tmp_path / "rot.png"), viewer)
    Image.fromarray(rgb).save(tmp_path / "flip.png", exif=_exif(2))  # mirrored left-right
    np.testing.assert_array_equal(load_image(tmp_path / "flip.png"), rgb[:, ::-1])


def test_animated_images_are_refused(tmp_path):
    frames = [Image.fromarray(np.full((8, 10, 3), v, np.uint8)) for v in (0, 200)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with pytest.raises(InputError, match=r"anim\.gif: has 2 frames"):
        load_image(tmp_path / "anim.gif")
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:])
    with pytest.raises(InputError, match=r"anim\.png: has 2 frames"):
        load_image(tmp_path / "anim.png")
    frames[1].save(tmp_path / "still.gif")  # a one-frame GIF is a still image
    out = load_image(tmp_path / "still.gif")
    assert out.shape == (8, 10, 3) and (out == 200).all()


def test_grayscale_is_reported_and_saved_as_one_channel(tmp_path):
    rng = np.random.default_rng(2)
    gray = rng.integers(0, 256, (6, 9), dtype=np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    info = load_image_info(tmp_path / "g.png")
    assert info.gray is True and info.rgb.shape == (6, 9, 3) and (info.rgb == gray[:, :, None]).all()
    la = np.stack([gray, np.full_like(gray, 255)], 2)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    assert load_image_info(tmp_path / "la.png").gray is True
    Image.fromarray((gray > 127).astype(np.uint8) * 255, "L").convert("1").save(tmp_path / "bw.png")
    assert load_image_info(tmp_path / "bw.png").gray is True
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    assert load_image_info(tmp_path / "g16.png").gray is True
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    Image.fromarray(rgb, "RGB").save(tmp_path / "rgb.png")  # gray-looking, stored as RGB
    assert load_image_info(tmp_path / "rgb.png").gray is False

    save_image(gray, tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as img:
        assert img.mode == "L" and img.size == (9, 6)
        np.testing.assert_array_equal(np.asarray(img), gray)
    save_image(rgb, tmp_path / "out_rgb.png")
    with Image.open(tmp_path / "out_rgb.png") as img:
        assert img.mode == "RGB"
    with pytest.raises(InputError, match="shape"):
        save_image(np.zeros((4, 4, 2), np.uint8), tmp_path / "bad.png")


def test_icc_profile_is_not_applied_and_warned_once(tmp_path, caplog, monkeypatch):
    from PIL import ImageCms

    from neurocodec.io import images

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = _gradient(5, 7)
    for name in ("a.png", "b.png"):
        Image.fromarray(rgb).save(tmp_path / name, icc_profile=icc)
    Image.fromarray(rgb).save(tmp_path / "plain.png")
    monkeypatch.setattr(images, "_icc_warned", False)
    with caplog.at_level("DEBUG", logger="neurocodec.io.images"):
        outs = [load_image(tmp_path / n) for n in ("plain.png", "a.png", "b.png")]
    for out in outs:
        np.testing.assert_array_equal(out, rgb)  # values as stored
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "a.png" in warnings[0].getMessage() and "ICC" in warnings[0].getMessage()
    assert any("b.png" in r.getMessage() for r in caplog.records if r.levelname == "DEBUG")


def test_size_limits_are_the_codecs(tmp_path):
    from neurocodec.codecs.image import base
    from neurocodec.io import images

    assert (images.MAX_SIDE, images.MAX_PIXELS) == (32768, 1 << 26)
    assert (base.MAX_SIDE, base.MAX_PIXELS) == (images.MAX_SIDE, images.MAX_PIXELS)
    # headers only: refused before any pixel is decoded (the files hold no pixel data)
    Image.new("L", (1, 1)).save(tmp_path / "tiny.png")
    wide = bytearray((tmp_path / "tiny.png").read_bytes())
    import struct
    import zlib

    def with_size(w: int, h: int) -> bytes:  # rewrite the IHDR width/height and its CRC
        b = bytearray(wide)
        b[16:24] = struct.pack(">II", w, h)
        b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])))
        return bytes(b)

    (tmp_path / "wide.png").write_bytes(with_size(40000, 1))
    with pytest.raises(InputError, match="40000x1 is too large"):
        load_image(tmp_path / "wide.png")
    (tmp_path / "big.png").write_bytes(with_size(9000, 8000))  # 72 MP, sides fine
    with pytest.raises(InputError, match="9000x8000 is too large"):
        load_image(tmp_path / "big.png")


def _png16(path, rgb16: np.ndarray, alpha16: np.ndarray | None = None) -> None:
    """A 16-bit RGB (colour type 2) or RGBA (6) PNG written by hand: Pillow cannot write one."""
    import struct
    import zlib

    a = rgb16 if alpha16 is None else np.concatenate([rgb16, alpha16[..., None]], 2)
    h, w = a.shape[:2]
    raw = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(h))

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2 if alpha16 is None else 6, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_16_bit_colour_pngs_are_rounded_not_truncated(tmp_path, caplog):
    """Pillow loads a 16-bit RGB PNG keeping each sample's high byte; the policy is rounding
    (v * 255 / 65535) with a warning, as for 16-bit gray. The values below differ between the two."""
    rng = np.random.default_rng(3)
    rgb16 = rng.integers(0, 65536, (6, 9, 3)).astype(np.uint16)
    rgb16[0, 0] = (0x80FF, 0x00FF, 0xFFFF)  # high bytes 0x80, 0x00, 0xFF; rounded 0x81, 0x01, 0xFF
    want = np.round(rgb16 * 255.0 / 65535).astype(np.uint8)
    assert (want != (rgb16 >> 8)).any()
    _png16(tmp_path / "c16.png", rgb16)
    with caplog.at_level("WARNING"):
        np.testing.assert_array_equal(load_image(tmp_path / "c16.png"), want)
    assert "16-bit image reduced to 8 bits" in caplog.text
    _png16(tmp_path / "opaque16.png", rgb16, np.full(rgb16.shape[:2], 65535, np.uint16))
    np.testing.assert_array_equal(load_image(tmp_path / "opaque16.png"), want)
    alpha = np.full(rgb16.shape[:2], 65535, np.uint16)
    alpha[2, 2] = 100
    _png16(tmp_path / "alpha16.png", rgb16, alpha)
    with pytest.raises(InputError, match="transparency"):
        load_image(tmp_path / "alpha16.png")


def test_float_gray_in_unit_range_is_scaled(tmp_path):
    """A 32-bit float image (mode F) holding [0, 1] is scaled by 255 (it read as almost black)."""
    f = np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5)
    Image.fromarray(f, "F").save(tmp_path / "f.tif")
    out = load_image_info(tmp_path / "f.tif")
    assert out.gray and (out.rgb[:, :, 0] == np.round(f * 255).astype(np.uint8)).all()
