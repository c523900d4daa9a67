"""videoattr: attribution methods for video classification networks."""

from videoattr._version import __version__

__all__ = ["__version__"]
