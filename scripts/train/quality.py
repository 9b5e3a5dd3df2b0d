"""Sample-quality checks shared by the prior trainers: classifier agreement and labelled grids."""
import os

import torch

from common import OUT_ROOT, log, save_grid
from safetensors_io import load_safetensors
from torch_models import FashionClassifier


def load_classifier():
    path = os.path.join(OUT_ROOT, "classifier", "model.safetensors")
    if not os.path.exists(path):
        return None
    tensors, _ = load_safetensors(path)
    model = FashionClassifier()
    model.load_state_dict(tensors)
    return model.eval()


@torch.no_grad()
def agreement_check(name, sample_fn, n, out_dir, guidance, seed=1234, batch=50):
    """Draw n class-conditional samples (classes 0..9 in turn) with sample_fn(labels, generator) and report
    how often the trained classifier predicts the requested class. Saves an 8-per-class labelled grid."""
    labels = torch.arange(n) % 10
    g = torch.Generator().manual_seed(seed)
    images = torch.cat([sample_fn(labels[i:i + batch], g) for i in range(0, n, batch)])
    clf = load_classifier()
    result = {"samples": n, "guidance": guidance}
    if clf is None:
        log(f"{name}: no train-out/classifier/model.safetensors yet: agreement not measured")
    else:
        pred = torch.cat([clf(images[i:i + 500]).argmax(1) for i in range(0, n, 500)])
        agree = (pred == labels).float().mean().item()
        per_class = [round((pred[labels == c] == c).float().mean().item(), 3) for c in range(10)]
        log(f"{name}: classifier agreement {agree * 100:.1f}% over {n} samples (guidance {guidance}); "
            f"per class {per_class}")
        result.update({"agreement": agree, "per_class_agreement": per_class})
    pick = torch.cat([torch.nonzero(labels == c)[:8, 0] for c in range(10)])
    save_grid(images[pick], labels[pick], os.path.join(out_dir, f"samples-cfg{guidance:g}.png"),
              title=f"{name}: guidance {guidance:g}" +
              (f", classifier agreement {result['agreement'] * 100:.1f}% of {n}" if "agreement" in result else ""))
    return result
