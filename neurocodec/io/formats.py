"""File extensions the image and audio codecs read and write (no heavy imports: the CLI checks paths with
these before torch, numpy or Pillow load)."""

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif"}
# what decode can write (Pillow writers), lossless first
IMAGE_OUTPUT_SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp", ".jpg", ".jpeg"}
# audio the codecs read (anything PyAV decodes; these are the names a folder run picks up) and
# what decode writes (neurocodec.io.audio.WRITERS holds the encoders)
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".wma", ".aif", ".aiff", ".mka"}
AUDIO_OUTPUT_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a"}
# containers that usually hold video: encoding one with an audio codec codes its audio track
AV_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov", ".avi"}
# video the codecs read (neurocodec.io.video; a folder of PNG frames is read too) and what decode
# writes (Y4M 4:2:0, lossless RGB FFV1 in Matroska; a path without a suffix is a folder of PNG frames)
VIDEO_SUFFIXES = {".y4m", ".yuv", ".mp4", ".mkv", ".webm", ".mov", ".avi"}
VIDEO_OUTPUT_SUFFIXES = {".y4m", ".mkv"}
