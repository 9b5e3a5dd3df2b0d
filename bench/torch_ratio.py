"""PyTorch side of bench/torch-ratio.ts: the main job's networks (the embedded fashion-ldm UNet
and decoder) built from the same safetensors weights, timed call by call.

Started by bench/torch-ratio.ts (not meant to be run by hand):
  /usr/bin/python3 bench/torch_ratio.py '<json>'
<json> = {"weights": path, "unet": {...UNetModel kwargs...}, "unetPrefix": "model.diffusion_model.",
          "ddconfig": {...}, "embedDim": 4, "aePrefix": "first_stage_model.", "scaleFactor": s,
          "alpha": a, "sigma": s, "t": 400, "label": 10, "threads": 1}
It reads the inputs as one JSON line on stdin ({"z": NHWC floats, "r": NHWC floats of the UNet
output shape, "target": NHWC floats of the image shape, "shape": [n, h, w, c], "imageShape":
[H, W, C]}), answers with the four outputs (NHWC, flattened), then for each line
{"reps": k} on stdin answers one JSON line of per-call wall and process-CPU milliseconds (median
of k after one warm-up call, bench/torch_unet.py's measure). The calls, mirroring the
TypeScript side:
  a: x0(z) = (z - sigma * unet(z, t, label)) / alpha                       (no_grad)
  b: d sum(x0(z) * r) / dz                                                  (forward included)
  c: decode(z) = decoder(post_quant_conv(z / scaleFactor))                 (no_grad)
  d: d sum((decode(x0(z)) - target)^2) / dz                                 (forward included)
Parameters have requires_grad off, so, as with tf.grad, only the input gradient is computed.
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "scripts", "fixtures"))
sys.path.insert(0, os.path.join(HERE, "..", "scripts", "fixtures", "torch_ref"))

from safetensors_io import load_safetensors  # noqa: E402
from openaimodel_ref import UNetModel  # noqa: E402
from ldm_autoencoder import AutoencoderKL  # noqa: E402
from torch_unet import measure  # noqa: E402


def sub_state(tensors, prefix):
    return {k[len(prefix):]: v.float() for k, v in tensors.items() if k.startswith(prefix)}


def nchw(flat, shape):
    n, h, w, c = shape
    return torch.tensor(flat, dtype=torch.float32).reshape(n, h, w, c).permute(0, 3, 1, 2).contiguous()


def nhwc_list(t):
    return t.detach().permute(0, 2, 3, 1).reshape(-1).tolist()


def main():
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(cfg["threads"])
    tensors, _ = load_safetensors(cfg["weights"])
    unet = UNetModel(**cfg["unet"]).float().eval()
    unet.load_state_dict(sub_state(tensors, cfg["unetPrefix"]), strict=True)
    ae = AutoencoderKL(cfg["ddconfig"], cfg["embedDim"]).float().eval()
    ae.load_state_dict(sub_state(tensors, cfg["aePrefix"]), strict=True)
    for p in list(unet.parameters()) + list(ae.parameters()):
        p.requires_grad_(False)

    inputs = json.loads(sys.stdin.readline())
    shape = inputs["shape"]
    n = shape[0]
    z = nchw(inputs["z"], shape)
    r = nchw(inputs["r"], shape)
    target = nchw(inputs["target"], [n, *inputs["imageShape"]])
    t = torch.full((n,), float(cfg["t"]))
    y = torch.full((n,), cfg["label"], dtype=torch.long) if cfg["unet"].get("num_classes") else None
    alpha, sigma, scale = cfg["alpha"], cfg["sigma"], cfg["scaleFactor"]

    def x0(x):
        return (x - sigma * unet(x, t, y)) / alpha

    def decode(x):
        return ae.decode(x / scale)

    def call_a():
        with torch.no_grad():
            return x0(z)

    def call_b():
        x = z.clone().requires_grad_(True)
        return torch.autograd.grad((x0(x) * r).sum(), x)[0]

    def call_c():
        with torch.no_grad():
            return decode(z)

    def call_d():
        x = z.clone().requires_grad_(True)
        return torch.autograd.grad(((decode(x0(x)) - target) ** 2).sum(), x)[0]

    calls = {"a": call_a, "b": call_b, "c": call_c, "d": call_d}
    print(json.dumps({k: nhwc_list(f()) for k, f in calls.items()}), flush=True)

    for line in sys.stdin:
        reps = json.loads(line)["reps"]
        print(json.dumps({k: measure(f, reps) for k, f in calls.items()}), flush=True)


if __name__ == "__main__":
    main()
