"""Train the class-conditional latent UNet (CompVis openaimodel UNetModel, torch_ref/openaimodel_ref.py)
on the scaled latents of the trained autoencoder (run scripts/train/autoencoder.py first).

  /usr/bin/python3 scripts/train/ldm.py --minutes 45

UNetModel image_size 8, in/out 4 channels, model_channels 64, channel_mult [1,2], 1 res block per
level, attention at 8x8 and 4x4 (attention_resolutions [1, 2] in downsampling factors) with 32
channels per head, num_classes 11: label 10 is the null class, substituted for the true label with
probability 0.1 in training (classifier-free guidance). VP schedule of the CompVis LDMs: 1000
steps, betas = linspace(sqrt(0.00085), sqrt(0.012), 1000)^2; epsilon prediction, plain MSE
(the "simple" loss). Latents: z = scale_factor * (mean + std * eps) drawn from the autoencoder's
posterior each step. Adam 5e-4 with 200 warm-up steps, gradient norm clipped at 1, EMA 0.999
(LitEma warm-up); the EMA weights of the bare UNet (no `model.diffusion_model.` prefix) are
exported. Final check: DDIM 50 steps (eta 0, CompVis uniform spacing t = 1, 21, ..., 981) with
classifier-free guidance, decoded by the autoencoder.
"""
import argparse
import math
import os

import torch

from common import (OUT_ROOT, Trainer, common_args, log, out_dir, set_threads, update_results, write_export)
from ldm_autoencoder import AutoencoderKL
from openaimodel_ref import UNetModel
from quality import agreement_check
from safetensors_io import load_safetensors
from torch_models import zero_openai_outputs

UNET = {"image_size": 8, "in_channels": 4, "out_channels": 4, "model_channels": 64, "num_res_blocks": 1,
        "attention_resolutions": [1, 2], "channel_mult": [1, 2], "num_classes": 11, "num_head_channels": 32,
        "use_scale_shift_norm": False, "resblock_updown": False, "dropout": 0.0}
NULL_CLASS, LABEL_DROPOUT, T = 10, 0.1, 1000
LINEAR_START, LINEAR_END = 0.00085, 0.012


def alphas_cumprod():
    betas = torch.linspace(math.sqrt(LINEAR_START), math.sqrt(LINEAR_END), T, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, 0)


def load_autoencoder():
    ae_dir = os.path.join(OUT_ROOT, "autoencoder")
    with open(os.path.join(ae_dir, "config.json")) as f:
        import json
        cfg = json.load(f)
    ae = AutoencoderKL(cfg["ddconfig"], cfg["embed_dim"])
    ae.load_state_dict(load_safetensors(os.path.join(ae_dir, "model.safetensors"))[0])
    return ae.eval(), cfg


@torch.no_grad()
def ddim_sample(unet, ae, scale_factor, labels, g, guidance, steps=50):
    abar = alphas_cumprod()
    ts = list(range(0, T, T // steps))
    ts = [t + 1 for t in ts]
    z = torch.randn(len(labels), 4, 8, 8, generator=g)
    null = torch.full_like(labels, NULL_CLASS)
    for i in reversed(range(len(ts))):
        t = ts[i]
        a, a_prev = abar[t].item(), (abar[ts[i - 1]].item() if i > 0 else abar[0].item())
        tt = torch.full((len(z),), t, dtype=torch.long)
        e_c, e_u = unet(torch.cat([z, z]), torch.cat([tt, tt]), torch.cat([labels, null])).chunk(2)
        eps = e_u + guidance * (e_c - e_u)
        x0 = (z - math.sqrt(1 - a) * eps) / math.sqrt(a)
        z = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps
    return ae.decode(z / scale_factor).clamp(-1, 1)


def main():
    p = common_args(argparse.ArgumentParser(description=__doc__), minutes=45)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--guidance", type=float, nargs="+", default=[2.0])
    args = p.parse_args()
    set_threads(args)
    lat = torch.load(os.path.join(OUT_ROOT, "autoencoder", "latents-train.pt"))
    mean, std, scale_factor = lat["mean"].float(), lat["std"].float(), float(lat["scale_factor"])
    from common import load_split
    _, ytr = load_split("train")
    ytr = torch.from_numpy(ytr)
    abar = alphas_cumprod().float()
    unet = UNetModel(**UNET)
    zero_openai_outputs(unet)
    opt = torch.optim.Adam(unet.parameters(), lr=args.lr)
    trainer = Trainer("ldm", unet, opt, args, ema_decay=0.999, lr_warmup=200)

    def step_fn(step, g):
        idx = torch.randint(0, len(mean), (args.batch,), generator=g)
        z0 = scale_factor * (mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=g))
        drop = torch.rand(args.batch, generator=g) < LABEL_DROPOUT
        y = torch.where(drop, torch.full_like(ytr[idx], NULL_CLASS), ytr[idx])
        t = torch.randint(0, T, (args.batch,), generator=g)
        eps = torch.randn(z0.shape, generator=g)
        a = abar[t][:, None, None, None]
        zt = a.sqrt() * z0 + (1 - a).sqrt() * eps
        loss = (unet(zt, t, y) - eps).square().mean()
        opt.zero_grad()
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        return {"loss": loss.item(), "grad_norm": float(gn)}

    done = trainer.run(step_fn, args.steps, log_every=50)
    if not (done or args.finalize):
        return
    ae, ae_cfg = load_autoencoder()
    config = {"architecture": "UNetModel (CompVis openaimodel)", "unet_config": UNET, "state_dict_prefix": "",
              "parameterization": "eps", "timesteps": T, "beta_schedule": "linear (scaled: sqrt-linspace squared)",
              "linear_start": LINEAR_START, "linear_end": LINEAR_END, "null_class": NULL_CLASS,
              "label_dropout": LABEL_DROPOUT, "scale_factor": scale_factor, "latent_shape": [4, 8, 8],
              "ema_decay": 0.999, "first_stage": "train-out/autoencoder (AutoencoderKL)",
              "first_stage_config": {"embed_dim": ae_cfg["embed_dim"], "ddconfig": ae_cfg["ddconfig"]}}
    write_export("ldm", trainer.export_state(), config, metadata={"steps": str(trainer.step)})
    ema = UNetModel(**UNET)
    ema.load_state_dict(trainer.export_state())
    ema.eval()
    results = {"steps": trainer.step, "train_minutes": round(trainer.elapsed / 60, 2), "batch": args.batch}
    for w in args.guidance:
        r = agreement_check("ldm", lambda lab, g: ddim_sample(ema, ae, scale_factor, lab, g, w),
                            args.check_samples, out_dir("ldm"), w)
        results[f"check_cfg{w:g}"] = r
    update_results("ldm", results)


if __name__ == "__main__":
    main()
