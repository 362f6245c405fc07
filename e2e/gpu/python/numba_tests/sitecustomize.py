"""Run by every Python that third_party.sh starts with this directory on PYTHONPATH, including the ones
numba-cuda's tests start themselves (`python -c ...` in test_print, test_caching, test_errors; process pools
in test_ipc, test_multithreads): numba-cuda 0.30 still uses np.row_stack, which numpy 2 removed, so without
this those child processes die at `from numba import cuda` natively and through the shim alike, and their
tests were never judged. Then runs the sitecustomize this one shadows, if there is one."""
import importlib.machinery
import importlib.util
import os
import sys

try:
    import numpy as np

    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack
except ImportError:
    pass

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.machinery.PathFinder.find_spec(
    "sitecustomize", [p for p in sys.path if os.path.abspath(p or ".") != _here])
if _spec and _spec.origin and os.path.abspath(_spec.origin) != os.path.abspath(__file__):
    _mod = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_mod)
