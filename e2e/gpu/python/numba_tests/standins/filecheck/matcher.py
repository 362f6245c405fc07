"""Stand-in (see ../README.md)."""
from filecheck import _Unavailable


class Matcher(_Unavailable):
    pass
