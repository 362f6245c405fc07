"""Stand-in for filecheck (see ../README.md): importable; using it skips the test."""
import unittest


class _Unavailable:
    def __init__(self, *args, **kwargs):
        raise unittest.SkipTest(f"filecheck is not installed (avec stand-in): {type(self).__name__}")


def pattern_for_opts(*args, **kwargs):
    raise unittest.SkipTest("filecheck is not installed (avec stand-in): pattern_for_opts")
