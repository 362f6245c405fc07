"""Output helpers for the framework programs run natively and through the shim (run.sh compares stdout
line by line; see lib.sh compare_outputs):
  - plain lines must be identical;
  - '#' lines are informational, not compared;
  - '~RTOL label: x y ...' lines compare each number within RTOL relative to max(|a|, |b|, 1), for values
    a library may compute in a different order (cuBLAS/cuDNN/XLA algorithm choice); everything else in the
    line must be identical.
"""
import hashlib
import sys

import numpy as np

errors = 0


def section(name):
    print(f"[{name}]", flush=True)


def approx(label, values, rtol):
    vals = " ".join(f"{float(v):.9g}" for v in np.ravel(np.asarray(values, dtype=np.float64)))
    print(f"~{rtol:g} {label}: {vals}", flush=True)


def digest(a):
    """Exact content hash of a host array (for bitwise-deterministic results only)."""
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def check(label, cond):
    global errors
    if not cond:
        errors += 1
    print(f"{label}: {'ok' if cond else 'FAIL'}", flush=True)


def finish():
    print(f"errors: {errors}", flush=True)
    sys.exit(1 if errors else 0)
