"""PyTorch side of bench/unet.ts: forward and input-gradient time of one LDM UNet configuration.

Run by bench/unet.ts (or by hand):
  /usr/bin/python3 bench/torch_unet.py '<json>'
with <json> = {"config": {...UNetModel kwargs...}, "size": 16, "batches": [1, 10], "reps": 3,
               "threads": [1, 2]}
Run once per thread count (bench/unet.ts sets OMP_NUM_THREADS and OPENBLAS_NUM_THREADS to match).
Prints one JSON object on stdout: torch version, BLAS, parameter count, and per
(threads, batch) the median wall and process-CPU milliseconds of
  forward:   model(x, t) under torch.no_grad()
  inputGrad: d sum(model(x, t) * r) / dx by torch.autograd.grad (forward included), with the
             parameters' requires_grad off, so that, as with tf.grad on the tfjs side, only the
             gradient with respect to x is computed.
The network is the reference module scripts/fixtures/torch_ref/openaimodel_ref.py (the official
module tree), float32, random fan-in-scaled weights (values do not change the cost, but they keep
the activations in a normal range, away from denormals).
"""
import json
import math
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts", "fixtures", "torch_ref"))

from openaimodel_ref import UNetModel  # noqa: E402


def randomise(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_((1.0 if name.endswith(".weight") else 0.0) + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(math.prod(p.shape[1:])))
            p.requires_grad_(False)


def measure(f, reps):
    """Median wall and process-CPU ms over reps, after one warm-up call."""
    f()
    walls, cpus = [], []
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        f()
        walls.append((time.perf_counter() - t0) * 1000)
        cpus.append((time.process_time() - c0) * 1000)
    walls.sort()
    cpus.sort()
    return {"wall": walls[len(walls) // 2], "cpu": cpus[len(cpus) // 2]}


def blas_libraries():
    """The BLAS shared objects actually mapped (Debian's torch links the generic libblas.so.3, which
    the alternatives system points at OpenBLAS when libopenblas0-pthread is installed)."""
    torch.randn(64, 64) @ torch.randn(64, 64)
    with open("/proc/self/maps") as f:
        return sorted({os.path.basename(line.split()[-1]) for line in f if "blas" in line.lower()})


def main():
    args = json.loads(sys.argv[1])
    config, size, reps = args["config"], args["size"], args["reps"]
    gen = torch.Generator().manual_seed(0)
    model = UNetModel(**config).float().eval()
    randomise(model, gen)
    c_in, c_out = config["in_channels"], config["out_channels"]
    results = {}
    for threads in args["threads"]:
        torch.set_num_threads(threads)
        for b in args["batches"]:
            x = torch.randn(b, c_in, size, size, generator=gen)
            r = torch.randn(b, c_out, size, size, generator=gen)
            t = torch.linspace(10.0, 990.0, b)
            # Cross-attention UNets get a random one-token context (as bench/unet.ts gives them).
            dim = config.get("context_dim")
            ctx = torch.randn(b, 1, dim, generator=gen) if dim else None

            def forward():
                with torch.no_grad():
                    return model(x, t, context=ctx)

            def input_grad():
                xg = x.clone().requires_grad_(True)
                (g,) = torch.autograd.grad((model(xg, t, context=ctx) * r).sum(), xg)
                return g

            results[f"{threads}|{b}"] = {"forward": measure(forward, reps), "inputGrad": measure(input_grad, reps)}
    print(json.dumps({
        "version": torch.__version__,
        "blas": blas_libraries(),
        "capability": next((line.split(":")[1].strip() for line in torch.__config__.show().splitlines()
                           if "CPU capability" in line), "?"),
        "params": sum(p.numel() for p in model.parameters()),
        "results": results,
    }))


if __name__ == "__main__":
    main()
