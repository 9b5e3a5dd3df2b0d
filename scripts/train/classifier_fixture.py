"""Parity fixture for src/networks/classifier.ts (run with /usr/bin/python3; writes
test/fixtures/fashion/classifier-parity.safetensors).

A small-width FashionClassifier (channels [8, 16, 16, 32], hidden 24, so the file stays small) with
random weights rounded to float32, evaluated in float64 on 3 random 32x32x1 inputs in [-1, 1]:
logits, penultimate features and the input gradient of sum(logits * r). Inputs and references are
stored NHWC under `io.*`; weights under their state_dict names; the config in the metadata.
"""
import json
import os

import torch

from common import REPO
from safetensors_io import save_safetensors
from torch_models import FashionClassifier

CONFIG = {"in_channels": 1, "resolution": 32, "num_classes": 10, "channels": [8, 16, 16, 32], "hidden": 24}


def main():
    torch.manual_seed(7)
    model = FashionClassifier(num_classes=10, channels=CONFIG["channels"], hidden=CONFIG["hidden"]).eval()
    with torch.no_grad():
        for p in model.parameters():
            # Scale so activations stay O(1) through the ReLU stack (fan-in scaling, uniform).
            fan_in = p[0].numel() if p.dim() > 1 else 4
            p.copy_((torch.rand(p.shape) * 2 - 1) * (3.0 / fan_in) ** 0.5)
            p.copy_(p.float())
    weights = {k: v.float() for k, v in model.state_dict().items()}
    model64 = model.double()
    x = (torch.rand(3, 1, 32, 32, dtype=torch.float64) * 2 - 1).float().double().requires_grad_(True)
    r = torch.randn(3, 10, dtype=torch.float64).float().double()
    logits = model64(x)
    features = model64.features(x)
    (grad,) = torch.autograd.grad((logits * r).sum(), x)
    nhwc = lambda t: t.detach().permute(0, 2, 3, 1).contiguous()  # noqa: E731
    tensors = dict(weights)
    tensors.update({"io.x": nhwc(x).float(), "io.r": r.float(), "io.logits": logits.detach(),
                    "io.features": features.detach(), "io.grad_x": nhwc(grad)})
    path = os.path.join(REPO, "test", "fixtures", "fashion", "classifier-parity.safetensors")
    save_safetensors(tensors, path, metadata={"config": json.dumps(CONFIG)})
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
