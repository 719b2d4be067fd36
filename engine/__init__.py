"""FFHQ-UV style single-photo head reconstruction on the CPU (no bpy, no downloads)."""

__version__ = "0.1.0"
