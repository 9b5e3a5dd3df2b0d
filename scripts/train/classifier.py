"""Train the Fashion-MNIST classifier (scripts/train/torch_models.py FashionClassifier).

  /usr/bin/python3 scripts/train/classifier.py --minutes 10

Adam 1e-3 (cosine to 0 over --steps), batch 128, dropout 0.3 before fc2; optional (--augment)
random horizontal flips and +-2 px shifts.
Writes train-out/classifier/{state.pt,loss.csv,model.safetensors,config.json,results.json}.
"""
import argparse
import math

import torch
import torch.nn.functional as F

from common import (CLASS_NAMES, Trainer, common_args, load_tensors, log, set_threads, update_results,
                    write_export)
from torch_models import CLASSIFIER_CONFIG, FashionClassifier


def augment(x, g):
    flip = torch.rand(x.shape[0], generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=g))
    x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))  # the border is background, so rolling is a shift
    return x


@torch.no_grad()
def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


def main():
    p = common_args(argparse.ArgumentParser(description=__doc__), minutes=10)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--augment", action="store_true",
                   help="random horizontal flips and +-2 px shifts (slows convergence: off by default)")
    args = p.parse_args()
    set_threads(args)
    xtr, ytr = load_tensors("train")
    xte, yte = load_tensors("test")
    model = FashionClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    trainer = Trainer("classifier", model, opt, args)

    def step_fn(step, g):
        for group in opt.param_groups:
            group["lr"] = 1e-3 * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        idx = torch.randint(0, len(xtr), (args.batch,), generator=g)
        x = augment(xtr[idx], g) if args.augment else xtr[idx]
        model.train()
        loss = F.cross_entropy(model(x), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    done = trainer.run(step_fn, args.steps, log_every=100)
    acc = evaluate(model, xte, yte)
    log(f"classifier: test accuracy {acc * 100:.2f}% at step {trainer.step}")
    if done or args.finalize:
        model.eval()
        per_class = {}
        with torch.no_grad():
            pred = torch.cat([model(xte[i:i + 1000]).argmax(1) for i in range(0, len(xte), 1000)])
        for c, name in enumerate(CLASS_NAMES):
            m = yte == c
            per_class[name] = round((pred[m] == c).float().mean().item(), 4)
        write_export("classifier", trainer.export_state(), dict(CLASSIFIER_CONFIG, class_names=CLASS_NAMES),
                     metadata={"steps": str(trainer.step), "test_accuracy": f"{acc:.4f}"})
        update_results("classifier", {"steps": trainer.step, "train_minutes": round(trainer.elapsed / 60, 2),
                                      "test_accuracy": acc, "per_class_accuracy": per_class})


if __name__ == "__main__":
    main()
