"""Stand-in (see ../README.md)."""
from filecheck import _Unavailable


class FInput(_Unavailable):
    pass
