"""JAX on the GPU (counted in run.sh): jit, grad, and a 20-step MLP training loop with a fixed PRNG key.
Run natively and through the shim; stdout compared by run.sh (see outfmt.py for '~' tolerance lines).

Memory: XLA_PYTHON_CLIENT_PREALLOCATE=false, so XLA allocates what the program needs instead of 75% of
the GPU up front (a session memory limit, or another program on the GPU, would otherwise decide whether
JAX starts at all). Determinism: XLA_FLAGS turns off GEMM autotuning (which picks algorithms by timing)
and asks for deterministic ops, so the native and the remote run choose the same kernels; the '~' lines
still allow 1e-5 relative for reductions. JAX_PLATFORMS=cuda: fail instead of falling back to the CPU.
"""
import os
import sys

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
os.environ.setdefault("XLA_FLAGS", "--xla_gpu_autotune_level=0 --xla_gpu_deterministic_ops=true")
if "--no-graphs" in sys.argv:  # XLA without CUDA-graph command buffers (what graphs block, issue 11)
    os.environ["XLA_FLAGS"] += " --xla_gpu_enable_command_buffer="
    print("# XLA command buffers (CUDA graphs) off")
os.environ.setdefault("JAX_PLATFORMS", "cuda")

import numpy as np  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from outfmt import approx, check, digest, finish, section  # noqa: E402

section("jax.devices")
devs = jax.devices()
print("backend:", jax.default_backend())
print("devices:", len(devs), devs[0].platform)
print("# device kind:", devs[0].device_kind, "jax", jax.__version__)

section("jax.jit")


@jax.jit
def f(x):
    return jnp.sum(jnp.sin(x) * x + jnp.cos(x * 0.5))


x = jnp.linspace(-3.0, 3.0, 1 << 20, dtype=jnp.float32)
approx("jit float sum", [f(x)], 1e-5)
ints = jax.jit(lambda v: jnp.sum(v % 977))(jnp.arange(1 << 20, dtype=jnp.int32))
print("jit int sum:", int(ints))
rng = np.random.default_rng(3)
a = rng.integers(-8, 8, size=(256, 192)).astype(np.float32)
b = rng.integers(-8, 8, size=(192, 320)).astype(np.float32)
c = np.asarray(jax.jit(jnp.matmul)(a, b))
check("jit matmul of small integers exact", np.array_equal(c, a @ b))
print("matmul digest:", digest(c))

section("jax.grad")
new_key = getattr(jax.random, "key", None) or jax.random.PRNGKey
key = new_key(0)
kx, kw = jax.random.split(key)
X = jax.random.normal(kx, (128, 32), dtype=jnp.float32)
w = jax.random.normal(kw, (32,), dtype=jnp.float32) * 0.1


def loss_w(w):
    return jnp.mean(jnp.tanh(X @ w) ** 2)


g = jax.jit(jax.grad(loss_w))(w)
approx("grad norm, first 4", [jnp.linalg.norm(g), *g[:4]], 1e-4)
fd = (loss_w(w.at[0].add(1e-2)) - loss_w(w.at[0].add(-1e-2))) / 2e-2
check("grad matches central difference", abs(float(fd) - float(g[0])) <= 1e-3 + 1e-2 * abs(float(g[0])))
v, gv = jax.value_and_grad(lambda s: jnp.sum(jnp.exp(s * jnp.arange(4.0))))(0.5)
approx("value_and_grad", [v, gv], 1e-6)

section("jax.train")
k1, k2, k3, k4 = jax.random.split(new_key(42), 4)
N, D, H, C = 512, 64, 128, 10
data = jax.random.normal(k1, (N, D))
labels = jax.random.randint(k2, (N,), 0, C)
params = {
    "w1": jax.random.normal(k3, (D, H)) * (1.0 / np.sqrt(D)),
    "b1": jnp.zeros(H),
    "w2": jax.random.normal(k4, (H, C)) * (1.0 / np.sqrt(H)),
    "b2": jnp.zeros(C),
}


def loss_fn(p, x, y):
    h = jax.nn.relu(x @ p["w1"] + p["b1"])
    logits = h @ p["w2"] + p["b2"]
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


@jax.jit
def step(p, x, y):
    loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
    return jax.tree_util.tree_map(lambda a, g: a - 0.1 * g, p, grads), loss


losses = []
for i in range(20):
    params, loss = step(params, data, labels)
    losses.append(float(loss))
approx("losses at steps 0 5 10 15 19", [losses[i] for i in (0, 5, 10, 15, 19)], 1e-4)
check("loss decreased", losses[-1] < losses[0])
approx("final params checksum", [float(jnp.sum(jnp.abs(params[k]))) for k in sorted(params)], 1e-4)
acc = float(jnp.mean(jnp.argmax(jax.nn.relu(data @ params["w1"] + params["b1"]) @ params["w2"], axis=1) == labels))
approx("train accuracy", [acc], 2e-2)

section("jax.memory")
big = jnp.ones((64, 1 << 20), dtype=jnp.float32)  # 256 MiB
approx("big sum", [jnp.sum(big)], 1e-6)
stats = devs[0].memory_stats() or {}
inuse = stats.get("bytes_in_use", -1)
check("memory_stats bytes_in_use >= 256 MiB", inuse >= (256 << 20))
print("# memory_stats:", {k: stats[k] for k in sorted(stats)[:8]})
del big
jax.block_until_ready(f(x))
finish()
