"""rayapp: distributed super-resolution for images and video on Ray."""

__version__ = "0.1.0"
