"""PyTorch smoke test (optional in the suite): allocation, copies, elementwise ops, a cuBLAS matmul of
integer-valued matrices (exact in fp32), a reduction, torch.cuda queries. Deterministic output."""
import hashlib
import sys

import torch

def h(t):
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]

print("[torch]")
print("cuda available:", torch.cuda.is_available())
print("device count:", torch.cuda.device_count())
print("name:", torch.cuda.get_device_name(0))
print("capability:", torch.cuda.get_device_capability(0))
g = torch.Generator().manual_seed(3)
a = torch.randint(-8, 8, (512, 256), generator=g).float()
b = torch.randint(-8, 8, (256, 384), generator=g).float()
da, db = a.cuda(), b.cuda()
c = da @ db
print("matmul exact:", torch.equal(c.cpu(), a @ b), "hash:", h(c))
x = torch.arange(1 << 20, device="cuda", dtype=torch.float32)
y = torch.sin(x * 0.001) + x.sqrt()
print("elementwise hash:", h(y))
print("int sum:", int(torch.arange(1 << 20, device="cuda").sum().item()))
conv = torch.nn.functional.conv2d(torch.ones(1, 3, 32, 32, device="cuda"), torch.ones(8, 3, 3, 3, device="cuda"), padding=1)
print("conv sum:", float(conv.sum().item()))
torch.cuda.synchronize()
free, total = torch.cuda.mem_get_info()
print("mem_get_info free<=total:", free <= total)
print("# mem", free, total)
sys.exit(0)
