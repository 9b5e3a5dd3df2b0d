"""Train the Fashion-MNIST AutoencoderKL (CompVis module tree, scripts/fixtures/torch_ref/ldm_autoencoder.py).

  /usr/bin/python3 scripts/train/autoencoder.py --minutes 25

32x32x1 -> 8x8x4 (ch 32, ch_mult [1,1,2], 1 res block per level, attention at 8x8, double_z).
Loss as in CompVis' LPIPSWithDiscriminator without its perceptual and GAN parts: sum of |x - x_hat|
over pixels + 1e-6 * KL(q(z|x) || N(0, I)) summed over latent entries, both averaged over the batch
(x_hat decoded from a posterior sample). Batch 16, Adam 1e-3 with 100 warm-up steps and cosine decay to 5%.
At the end: reconstruction PSNR (posterior mean, data range 2) on all 10,000 test images, the LDM
scale_factor = 1 / std of posterior samples over the 60,000 training images, and the training
latents (mean and std, float16) for the latent UNet in train-out/autoencoder/latents-train.pt.
"""
import argparse
import math

import torch

from common import (Trainer, common_args, load_tensors, log, psnr, save_grid, set_threads, update_results,
                    write_export, out_dir)
from ldm_autoencoder import AutoencoderKL

DDCONFIG = {"double_z": True, "z_channels": 4, "resolution": 32, "in_channels": 1, "out_ch": 1, "ch": 32,
            "ch_mult": [1, 1, 2], "num_res_blocks": 1, "attn_resolutions": [8], "dropout": 0.0}
EMBED_DIM = 4
KL_WEIGHT = 1e-6


def kl_sum(post):
    return 0.5 * (post.mean ** 2 + post.std ** 2 - 1.0 - post.logvar).flatten(1).sum(1)


@torch.no_grad()
def encode_all(model, x, g, batch=500):
    means, stds = [], []
    for i in range(0, len(x), batch):
        post = model.encode(x[i:i + batch])
        means.append(post.mean)
        stds.append(post.std)
    return torch.cat(means), torch.cat(stds)


@torch.no_grad()
def test_psnr(model, x, batch=500):
    vals = []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        vals.append(psnr(model.decode(model.encode(xb).mode()).clamp(-1, 1), xb))
    return torch.cat(vals)


def main():
    p = common_args(argparse.ArgumentParser(description=__doc__), minutes=25)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--loss", choices=["l1", "l2"], default="l1",
                   help="reconstruction term: summed |x - x_hat| (CompVis) or summed squared error (PSNR fine-tuning)")
    p.add_argument("--l2-from", type=int, default=0,
                   help="switch the reconstruction term to squared error from this step on (the shipped recipe: 1600)")
    args = p.parse_args()
    set_threads(args)
    xtr, _ = load_tensors("train")
    xte, yte = load_tensors("test")
    model = AutoencoderKL(DDCONFIG, EMBED_DIM)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    trainer = Trainer("autoencoder", model, opt, args)

    def step_fn(step, g):
        warm = min(1.0, (step + 1) / 100)
        cos = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(step, args.steps) / args.steps))
        for group in opt.param_groups:
            group["lr"] = args.lr * warm * cos
        idx = torch.randint(0, len(xtr), (args.batch,), generator=g)
        x = xtr[idx]
        post = model.encode(x)
        z = post.sample(torch.randn(post.mean.shape, generator=g))
        diff = x - model.decode(z)
        l1 = args.loss == "l1" and not (args.l2_from and step >= args.l2_from)
        rec = (diff.abs() if l1 else diff.square()).flatten(1).sum(1).mean()
        kl = kl_sum(post).mean()
        loss = rec + KL_WEIGHT * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item(), "l1": diff.abs().mean().item(), "mse": diff.square().mean().item(),
                "kl": kl.item()}

    done = trainer.run(step_fn, args.steps, log_every=25)
    model.eval()
    quick = test_psnr(model, xte[:500]).mean().item()
    log(f"autoencoder: PSNR on the first 500 test images {quick:.2f} dB at step {trainer.step}")
    if not (done or args.finalize):
        return
    values = test_psnr(model, xte)
    log(f"autoencoder: test PSNR over 10,000 images mean {values.mean():.3f} dB, median {values.median():.3f} dB")
    g = torch.Generator().manual_seed(args.seed)
    mean, std = encode_all(model, xtr, g)
    z = mean + std * torch.randn(mean.shape, generator=g)
    scale_factor = 1.0 / z.flatten().std().item()
    log(f"autoencoder: latent std {1 / scale_factor:.4f} -> scale_factor {scale_factor:.5f}; "
        f"mean posterior std {std.mean():.2e}")
    torch.save({"mean": mean.half(), "std": std.half(), "scale_factor": scale_factor},
               f"{out_dir('autoencoder')}/latents-train.pt")
    config = {"architecture": "AutoencoderKL", "embed_dim": EMBED_DIM, "ddconfig": DDCONFIG,
              "scale_factor": scale_factor, "input_range": [-1, 1],
              "preprocessing": "Fashion-MNIST 28x28 padded by 2 background pixels per side to 32x32, p/127.5-1"}
    write_export("autoencoder", trainer.export_state(), config,
                 metadata={"steps": str(trainer.step), "scale_factor": f"{scale_factor:.6f}"})
    update_results("autoencoder", {"steps": trainer.step, "train_minutes": round(trainer.elapsed / 60, 2),
                                   "batch": args.batch, "test_psnr_mean": values.mean().item(),
                                   "test_psnr_median": values.median().item(), "scale_factor": scale_factor})
    with torch.no_grad():
        pick = torch.cat([torch.nonzero(yte == c)[:4, 0] for c in range(10)])
        orig = xte[pick]
        rec = model.decode(model.encode(orig).mode())
        both = torch.stack([orig, rec], 1).reshape(-1, 1, 32, 32)
        labels = yte[pick].repeat_interleave(2)
    save_grid(both, labels, f"{out_dir('autoencoder')}/reconstructions.png",
              title=f"pairs: original, reconstruction (test PSNR {values.mean():.2f} dB)")


if __name__ == "__main__":
    main()
