"""File extensions the image codecs read and write (no heavy imports: the CLI checks paths with
these before torch, numpy or Pillow load)."""

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif"}
# what decode can write (Pillow writers), lossless first
IMAGE_OUTPUT_SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp", ".jpg", ".jpeg"}
