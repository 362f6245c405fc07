"""PyTorch on the GPU (counted in run.sh), run under two allocator configurations:
  PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True   (segments grow by cuMemCreate/cuMemMap: VMM)
  PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync     (stream-ordered pool)
Inference of a small CNN with a fixed seed, one training step (loss before/after), memory statistics as
relations, allocations that grow and shrink segments. Run natively and through the shim; stdout compared by
run.sh. Floating results are '~' lines (outfmt.py): 1e-4 relative (cuDNN/cuBLAS may pick other algorithms).
"""
import os

import numpy as np
import torch

from outfmt import approx, check, digest, finish, section

torch.backends.cudnn.deterministic = True
torch.backends.cudnn.benchmark = False

section("torch.device")
print("cuda available:", torch.cuda.is_available())
print("alloc conf:", os.environ.get("PYTORCH_CUDA_ALLOC_CONF", "(default)"))
dev = torch.device("cuda", 0)
torch.empty(1, device=dev)  # initialize the allocator
print("allocator backend:", torch.cuda.get_allocator_backend())
print("# torch", torch.__version__, torch.cuda.get_device_name(0))


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.c2 = torch.nn.Conv2d(16, 32, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(32)
        self.fc1 = torch.nn.Linear(32 * 8 * 8, 128)
        self.fc2 = torch.nn.Linear(128, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.c1(x)), 2)
        x = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.c2(x))), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


section("torch.inference")
torch.manual_seed(0)
net = Net().to(dev)
g = torch.Generator().manual_seed(1)
x = torch.randn(32, 3, 32, 32, generator=g).to(dev)
y = torch.randint(0, 10, (32,), generator=g).to(dev)
net.eval()
with torch.no_grad():
    logits = net(x)
lc = logits.double().cpu()
approx("logits sum, abs sum, [0,:3]", [lc.sum(), lc.abs().sum(), *lc[0, :3]], 1e-4)
a = torch.randint(-8, 8, (384, 256), generator=g).float().to(dev)
b = torch.randint(-8, 8, (256, 320), generator=g).float().to(dev)
c = (a @ b).cpu()
check("matmul of small integers exact", torch.equal(c, a.cpu() @ b.cpu()))
print("matmul digest:", digest(c.numpy()))
h = torch.randn(64, 512, generator=g).half().to(dev)
approx("float16 linear sum", [float((h @ h.T).float().sum())], 1e-3)

section("torch.train")
net.train()
opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
lossf = torch.nn.CrossEntropyLoss()
before = lossf(net(x), y)
opt.zero_grad()
before.backward()
gn = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in net.parameters()))
opt.step()
after = lossf(net(x), y)
approx("loss before, after, grad norm", [before.item(), after.item(), gn.item()], 1e-4)
check("loss decreased after one step", after.item() < before.item())
for _ in range(5):
    opt.zero_grad()
    l5 = lossf(net(x), y)
    l5.backward()
    opt.step()
approx("loss after 6 steps", [l5.item()], 1e-3)

section("torch.memory")
torch.cuda.synchronize()
alloc = torch.cuda.memory_allocated()
check("memory_allocated > 0", alloc > 0)
check("max_memory_allocated >= memory_allocated", torch.cuda.max_memory_allocated() >= alloc)
check("memory_reserved >= memory_allocated", torch.cuda.memory_reserved() >= alloc)
# Grow and shrink: 64, 256, 512 MiB tensors (new segments / mapped chunks), then free and release.
sizes = [64 << 20, 256 << 20, 512 << 20]
ts = [torch.full((s // 4,), i + 1, dtype=torch.int32, device=dev) for i, s in enumerate(sizes)]
print("big tensors sum:", [int(t.sum()) for t in ts])
peak = torch.cuda.memory_allocated()
check("allocated grew by >= 832 MiB", peak - alloc >= sum(sizes))
cat = torch.cat([t[:1000] for t in ts])
print("cat digest:", digest(cat.cpu().numpy()))
del ts, cat
torch.cuda.synchronize()
check("allocated back after free", torch.cuda.memory_allocated() <= alloc + (1 << 20))
torch.cuda.empty_cache()
stats = torch.cuda.memory_stats()
# the cudaMallocAsync backend keeps the keys but does not count allocations (0 natively too)
check("memory_stats has allocation counts", "allocation.all.allocated" in stats)
print("# reserved after empty_cache:", torch.cuda.memory_reserved(), "stats keys:", len(stats))
free, total = torch.cuda.mem_get_info()
check("mem_get_info free <= total", free <= total)
# A stream and an event with the allocator: record_stream keeps the block alive across streams.
s = torch.cuda.Stream()
t = torch.arange(1 << 20, device=dev, dtype=torch.float32)
with torch.cuda.stream(s):
    u = t * 2
    t.record_stream(s)
torch.cuda.current_stream().wait_stream(s)
print("cross-stream sum:", int(u.double().sum().item()))
torch.cuda.synchronize()
finish()
