"""Stand-in for cffi (see ../README.md): importable; using it skips the test."""
import unittest

__version__ = "0+avec-standin"
_WHY = "cffi is not installed (avec stand-in)"


class FFIError(Exception):
    pass


class CDefError(Exception):
    pass


class FFI:
    def __init__(self, *args, **kwargs):
        pass

    def typeof(self, obj):
        # Real cffi raises TypeError for anything that is not a cffi object or a C type string.
        raise TypeError(f"{_WHY}: typeof({type(obj).__name__})")

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        raise unittest.SkipTest(f"{_WHY}: FFI.{name}")


def __getattr__(name):
    if name.startswith("_"):
        raise AttributeError(name)
    raise unittest.SkipTest(f"{_WHY}: cffi.{name}")
