"""Stand-in (see ../README.md)."""
from filecheck import _Unavailable


class Options(_Unavailable):
    pass
