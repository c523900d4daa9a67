"""Former home of the zoo's building blocks, kept so that ``videoattr.zoo.base.<name>`` still works.

Each now lives in a module of its own: `videoattr.zoo.adapter`, `videoattr.zoo.sampling`,
`videoattr.zoo.preprocessing`, `videoattr.zoo.tokens`, `videoattr.zoo.weights` and
`videoattr.zoo.registry`. Import from [`videoattr.zoo`][videoattr.zoo] instead.
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
