"""Stand-in (see ../README.md)."""
from filecheck import _Unavailable, pattern_for_opts  # noqa: F401


class Parser(_Unavailable):
    pass
