"""neurocodec: neural media codecs on one integer-exact rANS entropy layer and one .bin format."""

from neurocodec.errors import NeurocodecError

__version__ = "0.1.0"
__all__ = ["NeurocodecError", "__version__"]
