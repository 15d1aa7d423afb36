"""Codecs: one Codec contract (base.py), a registry by name (registry.py), and per-modality
implementations under image/, audio/ and video/."""
