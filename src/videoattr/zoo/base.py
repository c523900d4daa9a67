"""Former home of the zoo's building blocks, kept so that ``videoattr.zoo.base.<name>`` still works.

Each now lives in a module of its own: :mod:`videoattr.zoo.adapter`, :mod:`videoattr.zoo.sampling`,
:mod:`videoattr.zoo.preprocessing`, :mod:`videoattr.zoo.tokens`, :mod:`videoattr.zoo.weights` and
:mod:`videoattr.zoo.registry`. Import from :mod:`videoattr.zoo` instead.
"""

from videoattr.zoo.adapter import LAYOUTS, Layout, OutputFn, VideoAdapter, default_output, wrap
from videoattr.zoo.preprocessing import Frames, Preprocessing
from videoattr.zoo.registry import Builder, ZooEntry, entries, get_entry, register
from videoattr.zoo.sampling import FrameSampling
from videoattr.zoo.tokens import TokenGrid, TokenOrder
from videoattr.zoo.weights import load_state_dict_checked, read_state_dict

__all__ = [
    "LAYOUTS",
    "Builder",
    "FrameSampling",
    "Frames",
    "Layout",
    "OutputFn",
    "Preprocessing",
    "TokenGrid",
    "TokenOrder",
    "VideoAdapter",
    "ZooEntry",
    "default_output",
    "entries",
    "get_entry",
    "load_state_dict_checked",
    "read_state_dict",
    "register",
    "wrap",
]
