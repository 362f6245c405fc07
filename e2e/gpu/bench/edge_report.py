"""The report of bench_edge.sh: reads its work directory (floors.txt, one edge.py output per profile,
cold-LABEL.runs) and prints each figure with its ratio and issue 8's target, met or not."""
import os
import statistics
import sys


def kv(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) > 2:
                    out[p[0]] = " ".join(p[1:])
                elif len(p) == 2:
                    try:
                        out[p[0]] = float(p[1])
                    except ValueError:
                        out[p[0]] = " ".join(p[1:])
    except OSError:
        pass
    return out


def main(w):
    floors = {}
    for line in open(os.path.join(w, "floors.txt")):
        name, rtt, bw = line.split()[:3]
        floors[name] = (float(rtt) / 1e3, float(bw))  # ms, MB/s
    runs = {n: kv(os.path.join(w, n + ".txt"))
            for n in ["cpu", "native", "loopback", "shaped-1g", "shaped-10g", "shaped-1g-fence"]}
    met = []

    def target(ok, text):
        met.append(ok)
        print(f"  [{'met' if ok else 'NOT MET'}] {text}")

    nat, cpu = runs["native"], runs["cpu"]
    profiles = any(runs.values())  # bench_edge.sh --only-cold runs the cold start alone
    print("link floors measured now (8-byte TCP ping-pong RTT median, one-stream TCP rate):")
    for name, (rtt, bw) in floors.items():
        print(f"  {name:9s} RTT {rtt:8.3f} ms  rate {bw:10.1f} MB/s")
    if profiles:
        print()
        print("profile         resnet ms/req  p90     floor ms  x floor  vs CPU(4 thr)  rt/req  gpt2 ms/tok  rt/tok  exit")
        print(f"cpu             {cpu.get('resnet_ms_median', float('nan')):10.2f}  {cpu.get('resnet_ms_p90', float('nan')):8.2f}"
              f"  {'':8s}  {'':7s}  {'':13s}  {'':6s}  {'':11s}  {'':6s}  {int(cpu.get('exit', -1))}")
        rows = [("native", None), ("loopback", "loopback"), ("shaped-1g", "1g"), ("shaped-10g", "10g")]
        extra = [("shaped-1g-fence", "1g")] if runs["shaped-1g-fence"] else []  # opt-in, informational
        for label, fl in rows + extra:
            r = runs[label]
            if "resnet_ms_median" not in r:
                print(f"{label:15s} no result (exit {int(r.get('exit', -1))}; see {label}.err)")
                continue
            floor = ""
            xf = ""
            if fl and fl in floors and "resnet_ms_median" in nat:
                rtt, bw = floors[fl]
                f_ms = nat["resnet_ms_median"] + r["resnet_bytes"] / (bw * 1e6) * 1e3 + rtt
                floor, xf = f"{f_ms:8.2f}", f"{r['resnet_ms_median'] / f_ms:7.3f}"
                r["floor_ms"] = f_ms
            sp = f"{cpu['resnet_ms_median'] / r['resnet_ms_median']:12.2f}x" if "resnet_ms_median" in cpu else ""
            print(f"{label:15s} {r['resnet_ms_median']:10.2f}  {r['resnet_ms_p90']:8.2f}  {floor:>8s}  {xf:>7s}  {sp:>13s}"
                  f"  {r.get('resnet_rt_per_req', float('nan')):6.1f}  {r.get('gpt2_ms_per_token', float('nan')):11.2f}"
                  f"  {r.get('gpt2_rt_per_token', float('nan')):6.1f}  {int(r.get('exit', -1))}")
        if extra:
            print("  (shaped-1g-fence: AVEC_SYNC_FENCE=1, opt-in and informational; the targets below use the default)")
        print()
        print("targets (issue 8):")
        for label, fl in rows[2:]:
            r = runs[label]
            if "floor_ms" not in r:
                target(False, f"ResNet-50 b8 request {label}: no result")
            else:
                target(r["resnet_ms_median"] <= 1.15 * r["floor_ms"],
                       f"ResNet-50 b8 request {label}: {r['resnet_ms_median']:.2f} ms <= 1.15 x floor {r['floor_ms']:.2f} ms"
                       f" ({r['resnet_ms_median'] / r['floor_ms']:.3f}x); speedup over the client's 4 CPU threads "
                       f"{cpu.get('resnet_ms_median', float('nan')) / r['resnet_ms_median']:.2f}x")
        g_nat = nat.get("gpt2_ms_per_token")
        if g_nat:
            lo = runs["loopback"].get("gpt2_ms_per_token")
            if lo:
                target(lo <= 1.10 * g_nat, f"GPT-2 loopback {lo:.2f} ms/token <= 1.10 x native {g_nat:.2f} ({lo / g_nat:.3f}x)")
            for label, fl in rows[2:]:
                s = runs[label].get("gpt2_ms_per_token")
                if s and fl in floors:
                    lim = g_nat + 1.3 * floors[fl][0]
                    target(s <= lim, f"GPT-2 {label} {s:.2f} ms/token <= native + 1.3 x RTT = {lim:.2f} ms")
        for label, _ in rows[1:] + extra:
            a, b = nat.get("gpt2_tokens"), runs[label].get("gpt2_tokens")
            if a and b:
                print(f"  GPT-2 last tokens {label}: {'same as native' if a == b else 'DIFFER from native'} ({b})")
    cold = {}  # label -> [(process start to first result, its part after the model was built), ...]
    for label in ["native", "empty", "warm", "warm-fence"]:
        try:
            cold[label] = [tuple(map(float, line.split())) for line in open(os.path.join(w, f"cold-{label}.runs"))]
        except (OSError, ValueError):
            pass
    if cold:
        print()
        print("cold start through the 1 Gbit/s, 2 ms RTT link (process start to first ResNet-50 result; median of the runs,")
        print("then the part after the model was built on the CPU, which is where the link shows; each run in brackets):")
        med = {k: (statistics.median(t for t, _ in v), statistics.median(g for _, g in v)) for k, v in cold.items() if v}
        for k in ["native", "empty", "warm", "warm-fence"]:
            if k in med:
                each = " ".join(f"{t:.2f}" for t, _ in cold[k])
                print(f"  {k:10s} {med[k][0]:8.2f} s  after build {med[k][1]:6.2f} s  [{each}]"
                      + ("  (AVEC_SYNC_FENCE=1, informational)" if k == "warm-fence" else ""))
        if "warm" in med and "native" in med:
            target(med["warm"][0] <= med["native"][0] + 1.0,
                   f"cold start, warm server cache {med['warm'][0]:.2f} s <= native {med['native'][0]:.2f} s + 1 s"
                   f" (after the model is built: {med['warm'][1]:.2f} s vs native {med['native'][1]:.2f} s)")
        else:
            target(False, "cold start: no native or warm result (see cold-*.err)")
    print(f"  {sum(met)} of {len(met)} targets met")


if __name__ == "__main__":
    main(sys.argv[1])
