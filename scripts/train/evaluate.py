"""Measure a finished prior from its exported files in train-out/ (run with /usr/bin/python3).

  /usr/bin/python3 scripts/train/evaluate.py ldm --n 1000 --guidance 2
  /usr/bin/python3 scripts/train/evaluate.py edm --n 1000 --guidance 2 --kid 1000

- Class agreement: n class-conditional samples (classes in turn), classified by train-out/classifier;
  labelled grid written to train-out/<model>/samples-cfg<g>.png.
- KID (optional, --kid m): m unconditional samples (null label / zero label, no guidance) against m
  test images, in the classifier's 128-d penultimate feature space, polynomial kernel
  (x.y / d + 1)^3, unbiased MMD^2 estimate (Binkowski et al. 2018); next to it the floor: m
  training images against the same test images.
Results are merged into train-out/<model>/results.json.
"""
import argparse
import json
import os

import torch

from common import OUT_ROOT, load_tensors, log, out_dir, update_results
from quality import agreement_check, load_classifier
from safetensors_io import load_safetensors


def kid(f1, f2):
    d = f1.shape[1]
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    m, n = len(f1), len(f2)
    kxx, kyy, kxy = k(f1, f1), k(f2, f2), k(f1, f2)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return (sxx + syy - 2 * kxy.mean()).item()


@torch.no_grad()
def features(clf, x):
    return torch.cat([clf.features(x[i:i + 500]) for i in range(0, len(x), 500)]).double()


def build(model):
    with open(os.path.join(OUT_ROOT, model, "config.json")) as f:
        cfg = json.load(f)
    weights = load_safetensors(os.path.join(OUT_ROOT, model, "model.safetensors"))[0]
    if model == "edm":
        import edm
        net = edm.build()
        net.load_state_dict(weights)
        net.eval()
        cond = lambda lab, g, w: edm.heun_sample(net, lab, g, w)  # noqa: E731

        def uncond(n, g):
            # Zero label with guidance 0 is the unconditional model: du + 0 * (dc - du).
            return edm.heun_sample(net, torch.zeros(n, dtype=torch.long), g, 0.0)
    else:
        import ldm
        from openaimodel_ref import UNetModel
        unet = UNetModel(**cfg["unet_config"])
        unet.load_state_dict(weights)
        unet.eval()
        ae, _ = ldm.load_autoencoder()
        sf = cfg["scale_factor"]
        cond = lambda lab, g, w: ldm.ddim_sample(unet, ae, sf, lab, g, w)  # noqa: E731

        def uncond(n, g):
            return ldm.ddim_sample(unet, ae, sf, torch.zeros(n, dtype=torch.long), g, 0.0)
    return cond, uncond


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("model", choices=["ldm", "edm"])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--guidance", type=float, nargs="+", default=[2.0])
    p.add_argument("--kid", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cond, uncond = build(args.model)
    results = {}
    for w in args.guidance:
        if args.n:
            results[f"check_cfg{w:g}"] = agreement_check(args.model, lambda lab, g: cond(lab, g, w), args.n,
                                                         out_dir(args.model), w, seed=4321)
    if args.kid:
        clf = load_classifier()
        xte, _ = load_tensors("test")
        xtr, _ = load_tensors("train")
        g = torch.Generator().manual_seed(99)
        test_idx = torch.randperm(len(xte), generator=g)[:args.kid]
        train_idx = torch.randperm(len(xtr), generator=g)[:args.kid]
        samples = torch.cat([uncond(min(50, args.kid - i), g) for i in range(0, args.kid, 50)])
        ft = features(clf, xte[test_idx])
        value = kid(features(clf, samples), ft)
        floor = kid(features(clf, xtr[train_idx]), ft)
        log(f"{args.model}: KID (classifier features, {args.kid} unconditional samples vs test) {value:.5f}; "
            f"real train images vs test (floor) {floor:.5f}")
        results["kid"] = {"m": args.kid, "unconditional_samples": value, "real_floor": floor}
    update_results(args.model, results)


if __name__ == "__main__":
    main()
