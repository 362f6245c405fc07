#!/usr/bin/env python3
"""Generate the shim's driver-API tables from the CUDA headers.

Reads `cuda.h` and `cudaTypedefs.h` of one toolkit and writes, into OUTDIR:
  cuda_stubs.c   one weak definition per exported driver entry point; a real implementation elsewhere in
                 the shim overrides it at link time, the rest return CUDA_ERROR_NOT_SUPPORTED and warn once
  proc_table.c   the cuGetProcAddress table: (API name, version, per-thread-stream variant) -> symbol
  errors.c       CUresult -> (name, description) for cuGetErrorName/cuGetErrorString

Which symbol implements `PFN_<api>_v<ver>[_ptds|_ptsz]` is decided by the C compiler, not by name
guessing: candidates are the declared functions `<api>`, `<api>_v2`, ... (same per-thread variant), and
gcc's __builtin_types_compatible_p picks those whose type equals the typedef. When several versions share
one type (e.g. cuCtxDestroy v2000/v4000), versions and suffixes are paired in ascending order.

Usage: gen_cuda_api.py CUDA_INCLUDE_DIR OUTDIR
"""
import os
import re
import subprocess
import sys
import tempfile

VERSION_RE = re.compile(r"^(?P<api>cu[A-Za-z0-9]+?)(?:_v(?P<n>\d+))?(?P<var>_ptds|_ptsz)?$")
PFN_RE = re.compile(r"\bPFN_(?P<api>cu[A-Za-z0-9]+)_v(?P<ver>\d+)(?P<var>_ptds|_ptsz)?\)")
DECL_RE = re.compile(r"\bCUresult\s+(cu[A-Za-z0-9_]+)\s*\(")


def preprocess(inc, defines):
    cmd = ["gcc", "-E", "-P", "-I", inc] + defines + [os.path.join(inc, "cuda.h")]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


INTEROP_HEADERS = ("cudaGL.h", "cudaEGL.h", "cudaVDPAU.h")
INTEROP_TYPEDEFS = ("cudaGLTypedefs.h", "cudaEGLTypedefs.h", "cudaVDPAUTypedefs.h", "cudaProfilerTypedefs.h")


def declared_names(inc):
    names = set()
    for defs in ([], ["-DCUDA_API_PER_THREAD_DEFAULT_STREAM"], ["-D__CUDA_API_VERSION_INTERNAL"]):
        names.update(DECL_RE.findall(preprocess(inc, defs)))
    # Graphics interop and profiler entry points: declared in headers that need GL/EGL/VDPAU types, so they
    # are read as text (they are only ever stubs here).
    for h in INTEROP_HEADERS:
        path = os.path.join(inc, h)
        if not os.path.exists(path):
            continue
        text = open(path).read()
        names.update(re.findall(r"CUresult\s+CUDAAPI\s+(cu[A-Za-z0-9_]+)\s*\(", text))
        for m in re.finditer(r"#define\s+cu\w+\s+(?:__CUDA_API_PT(DS|SZ)\()?(cu\w+)\)?", text):
            names.add(m.group(2))
            if m.group(1):
                names.add(m.group(2) + "_pt" + m.group(1).lower())
    for _, api, _v, _var in interop_pfns(inc):
        if api.startswith("cuProfiler"):
            names.add(api)
    return names


def interop_pfns(inc):
    out = []
    for h in INTEROP_TYPEDEFS:
        path = os.path.join(inc, h)
        if os.path.exists(path):
            for m in PFN_RE.finditer(open(path).read()):
                out.append((h, m.group("api"), int(m.group("ver")), m.group("var") or ""))
    return out


def pfn_typedefs(inc):
    text = open(os.path.join(inc, "cudaTypedefs.h")).read()
    out = []
    for m in PFN_RE.finditer(text):
        out.append((m.group("api"), int(m.group("ver")), m.group("var") or ""))
    out += [(api, ver, var) for _, api, ver, var in interop_pfns(inc)]
    return sorted(set(out))


# Where the driver disagrees with cudaTypedefs.h: the CUDA 13.0 driver resolves the cuLogs* entry points
# from version 12080 (traced: cuda-bindings asks at 12080 and gets them), the header names them _v12090.
VERSION_OVERRIDES = {(api, 12090): 12080 for api in (
    "cuLogsRegisterCallback", "cuLogsUnregisterCallback", "cuLogsCurrent", "cuLogsDumpToFile", "cuLogsDumpToMemory")}


def split_symbol(sym):
    m = VERSION_RE.match(sym)
    if not m:
        return None
    return m.group("api"), int(m.group("n") or 1), m.group("var") or ""


def compatibility(inc, pairs):
    """pairs: list of (pfn typedef name, symbol); returns the set of compatible pairs (compiled by gcc)."""
    lines = ["#define __CUDA_API_VERSION_INTERNAL 1", "#include <cuda.h>", "#include <cudaTypedefs.h>",
             "#include <stdio.h>", "int main(void) {"]
    for i, (pfn, sym) in enumerate(pairs):
        lines.append(f'  if (__builtin_types_compatible_p({pfn}, __typeof__(&{sym}))) printf("%d\\n", {i});')
    lines.append("  return 0; }")
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "c.c")
        exe = os.path.join(tmp, "c")
        open(src, "w").write("\n".join(lines))
        r = subprocess.run(["gcc", "-w", "-I", inc, src, "-o", exe], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("compatibility probe failed to compile:\n" + r.stderr[:4000])
        got = subprocess.run([exe], check=True, capture_output=True, text=True).stdout.split()
    return {pairs[int(i)] for i in got}


def internal_names(inc):
    return set(DECL_RE.findall(preprocess(inc, ["-D__CUDA_API_VERSION_INTERNAL"])))


def map_pfns(inc, names):
    pfns = pfn_typedefs(inc)
    visible = internal_names(inc)
    by_base = {}
    for sym in names:
        s = split_symbol(sym)
        if s:
            by_base.setdefault((s[0], s[2]), []).append((s[1], sym))
    pairs = []
    for api, ver, var in pfns:
        for _, sym in by_base.get((api, var), []):
            if sym in visible:
                pairs.append((f"PFN_{api}_v{ver}{var}", sym))
    ok = compatibility(inc, pairs)
    groups = {}
    for api, ver, var in pfns:
        groups.setdefault((api, var), []).append(ver)
    table, unmapped = [], []
    for (api, var), vers in sorted(groups.items()):
        cands = sorted(by_base.get((api, var), []))
        last = 0
        for ver in sorted(vers):
            pfn = f"PFN_{api}_v{ver}{var}"
            fits = [(n, s) for n, s in cands if (pfn, s) in ok]
            # Ascending pairing: the first compatible suffix not used by an older version, else reuse.
            pick = next(((n, s) for n, s in fits if n > last), None) or next(((n, s) for n, s in fits if n == last), None)
            if pick is None and cands and not any(c[1] in visible for c in cands):
                # Not compilable here (interop headers): pair versions and suffixes in ascending order.
                i = min(sorted(vers).index(ver), len(cands) - 1)
                pick = cands[i]
            if pick is None:
                unmapped.append(pfn)
                continue
            last = pick[0]
            table.append((api, VERSION_OVERRIDES.get((api, ver), ver), var, pick[1]))
    # Entry points declared without any PFN typedef (e.g. cuLogs*): resolvable at any version.
    covered = {sym for _, _, _, sym in table}
    typed = {(api, var) for api, _, var in pfns}
    for sym in sorted(names):
        sp = split_symbol(sym)
        if sym in covered or not sp or (sp[0], sp[2]) in typed or sp[1] != 1:
            continue
        table.append((sp[0], 0, sp[2], sym))
    return table, unmapped


def error_table(inc):
    text = open(os.path.join(inc, "cuda.h")).read()
    start = text.index("typedef enum cudaError_enum")
    end = text.index("} CUresult;", start)
    body = text[start:end]
    out = []
    for m in re.finditer(r"/\*\*(?P<doc>(?:(?!\*/).)*?)\*/\s*(?P<name>CUDA_[A-Z0-9_]+)\s*=\s*(?P<val>\d+)", body, re.S):
        doc = " ".join(l.strip().lstrip("*").strip() for l in m.group("doc").splitlines()).strip()
        doc = re.sub(r"\\(?:p|ref)\s+", "", doc).replace("::", "")
        first = re.split(r"(?<=\.)\s", doc)[0].rstrip(".")
        out.append((int(m.group("val")), m.group("name"), first))
    return out


NVML_DECL_RE = re.compile(r"\bnvmlReturn_t\s+(nvml[A-Za-z0-9_]+)\s*\(")


def nvml_names(inc):
    """Every nvml* entry point of nvml.h, versioned and unversioned (the real library exports both)."""
    path = os.path.join(inc, "nvml.h")
    if not os.path.exists(path):
        return []
    names = set()
    for defs in ([], ["-DNVML_NO_UNVERSIONED_FUNC_DEFS"]):
        cmd = ["gcc", "-E", "-P", "-I", inc] + defs + [path]
        names.update(NVML_DECL_RE.findall(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
    return sorted(names)


def c_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    inc, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    names = sorted(declared_names(inc) | {"cuGetProcAddress", "cuGetProcAddress_v2"})
    table, unmapped = map_pfns(inc, names)
    if unmapped:
        print("gen_cuda_api: typedefs without a symbol: " + ", ".join(unmapped), file=sys.stderr)
    hdr = "/* Generated by shim/gen/gen_cuda_api.py from the CUDA 13.0 headers; do not edit. */\n"

    with open(os.path.join(outdir, "cuda_stubs.c"), "w") as f:
        f.write(hdr)
        f.write('#include "avec_shim.h"\n\n')
        f.write("/* Every driver entry point exists; implementations elsewhere override these weak ones. */\n")
        f.write("#define AVEC_STUB(sym) \\\n  AVEC_EXPORT __attribute__((weak)) int sym(void) { \\\n"
                "    static int warned; return avec_unsupported(#sym, &warned); }\n\n")
        for n in names:
            f.write(f"AVEC_STUB({n})\n")
        f.write(f"\nconst int avec_cuda_symbol_count = {len(names)};\n")

    with open(os.path.join(outdir, "proc_table.c"), "w") as f:
        f.write(hdr)
        f.write('#include "proc_table.h"\n\n')
        for n in names:
            f.write(f"extern int {n}(void);\n")
        f.write("\n/* Sorted by API name, then variant, then version. */\n")
        f.write("const avec_proc_entry avec_proc_table[] = {\n")
        for api, ver, var, sym in sorted(table, key=lambda t: (t[0], t[2] != "", t[1])):
            v = 1 if var else 0
            f.write(f'  {{"{api}", {ver}, {v}, "{sym}", (void (*)(void)){sym}}},\n')
        f.write("};\n")
        f.write("const size_t avec_proc_table_len = sizeof(avec_proc_table) / sizeof(avec_proc_table[0]);\n\n")
        f.write("/* Every exported symbol by name (sorted), for exact-name lookups. */\n")
        f.write("const avec_symbol_entry avec_symbol_table[] = {\n")
        for n in names:
            f.write(f'  {{"{n}", (void (*)(void)){n}}},\n')
        f.write("};\n")
        f.write("const size_t avec_symbol_table_len = sizeof(avec_symbol_table) / sizeof(avec_symbol_table[0]);\n")

    with open(os.path.join(outdir, "errors.c"), "w") as f:
        f.write(hdr)
        f.write('#include "errors_table.h"\n\n')
        f.write("const avec_error_entry avec_error_table[] = {\n")
        for val, name, doc in sorted(error_table(inc)):
            f.write(f"  {{{val}, {c_str(name)}, {c_str(doc)}}},\n")
        f.write("};\n")
        f.write("const size_t avec_error_table_len = sizeof(avec_error_table) / sizeof(avec_error_table[0]);\n")
    nvml = nvml_names(inc)
    os.makedirs(os.path.join(outdir, "nvml"), exist_ok=True)
    with open(os.path.join(outdir, "nvml", "nvml_stubs.c"), "w") as f:
        f.write(hdr)
        f.write('#include "avec_shim.h"\n\n')
        f.write("/* Every NVML entry point exists; implementations in src/nvml override these weak ones. */\n")
        f.write("#define NVML_STUB(sym) \\\n  AVEC_EXPORT __attribute__((weak)) int sym(void) { \\\n"
                "    static int warned; return avec_nvml_unsupported(#sym, &warned); }\n\n")
        for n in nvml:
            f.write(f"NVML_STUB({n})\n")
    print(f"gen_cuda_api: {len(nvml)} NVML symbols", file=sys.stderr)
    print(f"gen_cuda_api: {len(names)} symbols, {len(table)} proc-address entries, {len(unmapped)} unmapped",
          file=sys.stderr)


if __name__ == "__main__":
    main()
