"""CUDA graphs, managed and mapped memory from the frameworks (counted in run.sh): torch.cuda.CUDAGraph
capture + replay of a small model against eager, torch.compile(mode="reduce-overhead"), CuPy stream
capture and managed memory, numba managed and mapped arrays. Each section reports its own error, so
one missing feature does not hide the others.
"""
import sys
import traceback

import numpy as np

from outfmt import approx, check, finish, section

import outfmt


def run(name, fn):
    section(name)
    try:
        fn()
    except Exception as e:  # printed as a result line: native and shim must agree
        outfmt.errors += 1
        print(f"ERROR {type(e).__name__}", flush=True)
        traceback.print_exc(file=sys.stderr)


def torch_graph():
    import torch
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 64)).cuda().eval()
    static_in = torch.randn(16, 256, device="cuda")
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s), torch.no_grad():
        for _ in range(3):  # warm-up on a side stream, as the PyTorch docs ask
            model(static_in)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g), torch.no_grad():
        static_out = model(static_in)
    gen = torch.Generator().manual_seed(3)
    worst = 0.0
    for _ in range(5):
        x = torch.randn(16, 256, generator=gen).cuda()
        static_in.copy_(x)
        g.replay()
        with torch.no_grad():
            eager = model(x)
        worst = max(worst, float((static_out - eager).abs().max()))
    check("replay equals eager", worst < 1e-5)
    approx("last replay sum", [float(static_out.double().sum())], 1e-4)


def torch_compile():
    import torch
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(128, 128), torch.nn.GELU(), torch.nn.Linear(128, 32)).cuda().eval()
    fast = torch.compile(model, mode="reduce-overhead")
    gen = torch.Generator().manual_seed(4)
    worst = 0.0
    with torch.no_grad():
        for _ in range(4):
            x = torch.randn(8, 128, generator=gen).cuda()
            worst = max(worst, float((fast(x) - model(x)).abs().max()))
    check("compiled (reduce-overhead) equals eager", worst < 1e-4)


def cupy_graph_and_managed():
    import cupy as cp
    s = cp.cuda.Stream(non_blocking=True)
    a = cp.arange(1 << 16, dtype=cp.float32)
    with s:
        s.begin_capture()
        for _ in range(10):
            a += 1.5
        g = s.end_capture()
    for _ in range(4):
        g.launch(s)
    s.synchronize()
    print("cupy graph a[0] a[-1]:", float(a[0]), float(a[-1]))
    cp.cuda.set_allocator(cp.cuda.MemoryPool(cp.cuda.malloc_managed).malloc)
    m = cp.arange(4096, dtype=cp.int64)
    m *= 3
    print("cupy managed sum:", int(m.sum()))
    cp.cuda.set_allocator(cp.cuda.MemoryPool().malloc)


def numba_managed_mapped():
    np.row_stack = np.vstack  # numba-cuda 0.30 still uses it
    from numba import cuda

    @cuda.jit
    def inc(x, v):
        i = cuda.grid(1)
        if i < x.size:
            x[i] = x[i] * 2 + v

    m = cuda.managed_array(1000, dtype=np.int32)
    m[:] = np.arange(1000)
    inc[4, 256](m, 1)
    cuda.synchronize()
    m[::2] += 1
    inc[4, 256](m, 2)
    cuda.synchronize()
    print("numba managed m[0] m[1] m[999]:", int(m[0]), int(m[1]), int(m[999]))
    p = cuda.mapped_array(1000, dtype=np.int32)
    p[:] = 7
    inc[4, 256](p, 3)
    cuda.synchronize()
    print("numba mapped sum:", int(p.sum()))


run("torch.cuda_graph", torch_graph)
run("torch.compile_reduce_overhead", torch_compile)
run("cupy.graph_managed", cupy_graph_and_managed)
run("numba.managed_mapped", numba_managed_mapped)
finish()
