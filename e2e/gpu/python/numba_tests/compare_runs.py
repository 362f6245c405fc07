"""Compares a native and a through-the-shim run of one numba-cuda test suite, per test id, from the result
lines avec_numba_plugin.py wrote (AVEC_RESULTS_JSONL: one JSON line per test phase, written as results
arrive, so a run cut short still counts what it finished).
  python3 compare_runs.py SUITE NATIVE.jsonl SHIM.jsonl OUTDIR [SHIM_LOG...]
Prints (and writes to OUTDIR/numba-cuda-SUITE.txt) exactly one line
  numba-cuda SUITE: N of M natively passing tests pass through the shim
then the natively passing tests that do not pass through the shim (test id + first line of the failure),
the most common first lines, and the distinct shim warnings (avec[pid] warn/error lines, pid removed) in
the shim run's captured output and in SHIM_LOG files. Tests skipped natively are not counted; a test that
passes natively but is skipped, unfinished or missing through the shim counts as not passing.
"""
import collections
import json
import os
import re
import sys

WARN = re.compile(r"^avec\[\d+\] ((?:warn|error): .*)$", re.M)


def load(path):
    """{test id: (outcome, message, warnings)}; None when the file is missing or empty."""
    phases = collections.defaultdict(list)
    try:
        with open(path) as f:
            for ln in f:
                try:
                    e = json.loads(ln)
                except ValueError:
                    continue
                phases[e["id"]].append(e)
    except OSError:
        return None
    if not phases:
        return None
    res = {}
    for tid, es in phases.items():
        warns = sorted({w for e in es for w in e.get("warns", [])})
        failed = [e for e in es if e["outcome"] == "failed"]
        if failed:
            res[tid] = ("fail", failed[0].get("msg") or f"failed in {failed[0]['when']}", warns)
        elif any(e["outcome"] == "skipped" for e in es):
            res[tid] = ("skip", next(e.get("msg", "") for e in es if e["outcome"] == "skipped"), warns)
        elif any(e["when"] == "call" and e["outcome"] == "passed" for e in es):
            res[tid] = ("pass", "", warns)
        else:
            res[tid] = ("fail", "did not finish (the run ended during this test)", warns)
    return res


def main():
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    suite, npath, spath, outdir = sys.argv[1:5]
    native, shim = load(npath), load(spath)
    lines, detail = [], []
    out = lines.append
    if native is None:
        out(f"numba-cuda {suite}: 0 of 0 natively passing tests pass through the shim")
        out(f"  no native results ({npath}): the native run did not start or collected nothing; see its log")
        return report(suite, outdir, lines, detail)
    passing = sorted(t for t, v in native.items() if v[0] == "pass")
    shim = shim or {}
    ok = {t for t in passing if shim.get(t, ("missing",))[0] == "pass"}
    nc = collections.Counter(v[0] for v in native.values())
    sc = collections.Counter(v[0] for v in shim.values())
    m, n = len(passing), len(ok)
    out(f"numba-cuda {suite}: {n} of {m} natively passing tests pass through the shim")
    out(f"  ({100.0 * n / m if m else 0.0:.1f}%; natively {nc['pass']} passed, {nc['fail']} failed, {nc['skip']} skipped;"
        f" through the shim {sc['pass']} passed, {sc['fail']} failed, {sc['skip']} skipped"
        f"{'' if shim else '; NO SHIM RESULTS: see the shim log'})")
    others = [t for t in passing if t not in ok]
    reasons = collections.Counter()
    if others:
        out(f"  natively passing, not passing through the shim ({len(others)}):")
    for t in others:
        st, msg, warns = shim.get(t, ("missing", "not run through the shim (the run ended first, or never reached it)", []))
        reasons[msg.split(":")[0][:90]] += 1
        out(f"    {st.upper():7} {t}: {msg}" + (f"  [{warns[0]}]" if warns else ""))
    if reasons:
        out("  most common first lines (up to the first ':'):")
        for r, c in reasons.most_common(12):
            out(f"    {c:5}  {r}")
    warns = collections.Counter(w for v in shim.values() for w in v[2])
    for path in sys.argv[5:]:
        try:
            with open(path, errors="replace") as f:
                warns.update(WARN.findall(f.read()))
        except OSError:
            pass
    if warns:
        out("  shim warnings (distinct; count = tests whose output has it + lines in the run's log):")
        for w, c in warns.most_common(25):
            out(f"    {c:5}  {w[:200]}")
    nfail = sorted(t for t, v in native.items() if v[0] == "fail")
    detail.append(f"  natively failing (not counted, {len(nfail)}):")
    detail += [f"    {t}: {native[t][1]}" for t in nfail]
    return report(suite, outdir, lines, detail)


def report(suite, outdir, lines, detail):
    print("\n".join(lines), flush=True)
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, f"numba-cuda-{suite}.txt"), "w") as f:
        f.write("\n".join(lines + detail) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
