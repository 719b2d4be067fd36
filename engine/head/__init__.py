"""The head model (MakeHuman hm08 head, CC0): template, shape sliders, ARKit expressions, head UV atlas.

Public entry points: :func:`engine.head.model.load_head_model` -> :class:`engine.head.model.HeadModel`.
"""
from engine.head.model import HeadModel, load_head_model

__all__ = ["HeadModel", "load_head_model"]
