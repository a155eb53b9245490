"""sambench: benchmark and zero-shot evaluation suite for promptable segmentation models."""

__version__ = "0.1.0"
