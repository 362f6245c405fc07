"""Turns the key/value outputs of bench.sh's runs into the remote/native table and the issue-2 target
checks. Usage: report.py DIR   (DIR holds native.txt, remote.txt, tcp.txt, ping.txt and, when shaped runs
were made, shaped_remote.txt, shaped_tcp.txt, shaped_ping.txt, shaped.label)."""
import os
import sys


def load(path):
    d = {}
    if not os.path.exists(path):
        return d
    for line in open(path):
        parts = line.split()
        # "key value [key value ...]" lines: the first pair is key/value, later pairs too.
        for i in range(0, len(parts) - 1, 2):
            try:
                d[parts[i]] = float(parts[i + 1])
            except ValueError:
                pass
    return d


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}{unit}"
    return f"{v:.3g}{unit}" if abs(v) < 10 else f"{v:.1f}{unit}"


def section(title, native, remote, tcp, ping, label, gapped=None, alone=None, tcp_after=None):
    out = []
    out.append(f"== {title} ==")
    rtt = tcp.get("tcp_rtt_us_median")
    bw = tcp.get("tcp_bw_MBps")
    out.append(f"physical floor ({label}): TCP one-stream {fmt(bw)} MB/s, 8-byte ping-pong RTT median {fmt(rtt)} us"
               + (f"; avec PING median {fmt(ping.get('avec_ping_us_median'))} us" if ping.get("avec_ping_us_median") else ""))
    if tcp.get("tcp_bw_coldsrc_MBps"):
        out.append(f"  (informational: the same stream sent from one 256 MiB buffer, each byte once, as a 256 MiB copy reads"
                   f" its source: {fmt(tcp.get('tcp_bw_coldsrc_MBps'))} MB/s; the copy targets use the figure above)")
    out.append(f"{'figure':28} {'native':>12} {'remote':>12} {'remote/native':>14}")
    rows = [("launch_throughput_per_s", "launches/s"), ("launch_sync_us_median", "us"),
            ("h2d_pinned_MBps", "MB/s"), ("d2h_pinned_MBps", "MB/s"), ("h2d_pageable_MBps", "MB/s"),
            ("d2h_pageable_MBps", "MB/s"), ("sgemm_total_s", "s"), ("sgemm_kernels_s", "s"),
            ("graph_replay_us_median", "us"), ("init_s", "s")]
    for k, unit in rows:
        n, r = native.get(k), remote.get(k)
        ratio = f"{r / n:.3f}" if n and r is not None else "n/a"
        out.append(f"{k + ' (' + unit + ')':28} {fmt(n):>12} {fmt(r):>12} {ratio:>14}")
    if native.get("sgemm_checksum") is not None:
        same = native.get("sgemm_checksum") == remote.get("sgemm_checksum")
        out.append(f"sgemm checksum native {native.get('sgemm_checksum'):.6e} remote "
                   f"{remote.get('sgemm_checksum', float('nan')):.6e}: {'same' if same else 'DIFFERENT'}")
    out.append("targets (issue 2):")
    met = 0
    total = 0

    def target(desc, ok, detail):
        nonlocal met, total
        total += 1
        met += 1 if ok else 0
        out.append(f"  [{'met' if ok else 'NOT MET' if ok is not None else 'n/a'}] {desc}: {detail}")

    n, r = native.get("launch_throughput_per_s"), remote.get("launch_throughput_per_s")
    target("launch throughput >= 50% of native", (r / n >= 0.5) if n and r else None,
           f"{fmt(r)} vs {fmt(n)} launches/s = {r / n:.1%}" if n and r else "missing")
    n, r = native.get("launch_sync_us_median"), remote.get("launch_sync_us_median")
    if n and r and rtt:
        lim = n + 1.5 * rtt
        target("launch+sync <= native + 1.5 x TCP RTT", r <= lim, f"{fmt(r)} us vs limit {fmt(n)} + 1.5 x {fmt(rtt)} = {fmt(lim)} us")
    else:
        target("launch+sync <= native + 1.5 x TCP RTT", None, "missing")
    for k in ("h2d_pinned_MBps", "d2h_pinned_MBps", "h2d_pageable_MBps", "d2h_pageable_MBps"):
        r = remote.get(k)
        if r and bw:
            target(f"{k[:-5]} copy >= 75% of TCP bandwidth", r >= 0.75 * bw, f"{fmt(r)} MB/s = {r / bw:.1%} of {fmt(bw)} MB/s")
        else:
            target(f"{k[:-5]} copy >= 75% of TCP bandwidth", None, "missing")
    n, r = native.get("sgemm_total_s"), remote.get("sgemm_total_s")
    target("compute-bound (SGEMM loop) <= 1.05 x native", (r <= 1.05 * n) if n and r else None,
           f"{fmt(r)} s vs {fmt(n)} s = {r / n:.3f}x" if n and r else "missing")
    n, r = native.get("graph_replay_us_median"), remote.get("graph_replay_us_median")
    if n and r:  # issue 11: a replay is one frame
        if label == "loopback":
            target("graph replay (100 kernels) + sync <= 1.2 x native", r <= 1.2 * n, f"{fmt(r)} us vs {fmt(n)} us = {r / n:.3f}x")
        elif rtt:
            target("graph replay (100 kernels) + sync <= native + 1 RTT", r <= n + rtt,
                   f"{fmt(r)} us vs limit {fmt(n)} + {fmt(rtt)} = {fmt(n + rtt)} us")
            g = (gapped or {}).get("graph_replay_us_median")
            if g:
                out.append(f"    (informational: native replay after the GPU idled one RTT, as between replays through"
                           f" the link: {fmt(g)} us; remote - that = {fmt(r - g)} us = {(r - g) / rtt:.3f} RTT)")
            out.append(f"    (informational: remote replay p10 {fmt(remote.get('graph_replay_us_p10'))} p90 {fmt(remote.get('p90'))} us;"
                       f" TCP RTT p10 {fmt(tcp.get('tcp_rtt_us_p10'))} p99 {fmt(tcp.get('p99'))} us)")
            a = (alone or {}).get("graph_replay_us_median")
            if a:
                out.append(f"    (informational: the replays alone in a fresh process: median {fmt(a)} p10"
                           f" {fmt(alone.get('graph_replay_us_p10'))} p90 {fmt(alone.get('p90'))} us; limit with the RTT"
                           f" measured after them ({fmt((tcp_after or {}).get('tcp_rtt_us_median'))} us):"
                           f" {fmt(n + (tcp_after or {}).get('tcp_rtt_us_median', float('nan')))} us)")
    else:
        target("graph replay (100 kernels) + sync", None, "missing")
    out.append(f"  {met} of {total} targets met")
    return out


def main():
    d = sys.argv[1]
    native = load(os.path.join(d, "native.txt"))
    lines = section("loopback (executor on the same machine)", native, load(os.path.join(d, "remote.txt")),
                    load(os.path.join(d, "tcp.txt")), load(os.path.join(d, "ping.txt")), "loopback")
    if os.path.exists(os.path.join(d, "shaped_remote.txt")):
        label = open(os.path.join(d, "shaped.label")).read().strip() if os.path.exists(os.path.join(d, "shaped.label")) else "shaped"
        lines.append("")
        lines += section(f"shaped link: {label}", native, load(os.path.join(d, "shaped_remote.txt")),
                         load(os.path.join(d, "shaped_tcp.txt")), load(os.path.join(d, "shaped_ping.txt")), label,
                         load(os.path.join(d, "shaped_native_gapped.txt")),
                         load(os.path.join(d, "shaped_remote_graph_only.txt")), load(os.path.join(d, "shaped_tcp_after.txt")))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
