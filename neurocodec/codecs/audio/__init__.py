"""Learned audio codecs: residual vector quantisers over a convolutional waveform backbone."""
