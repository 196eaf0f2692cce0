"""Access logs of a conda package server in, honest answers about conda usage out."""

__version__ = "0.1.0"
