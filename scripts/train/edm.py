"""Train the class-conditional pixel-space EDM prior (NVlabs DhariwalUNet + EDMPrecond, torch_ref/edm_ref.py).

  /usr/bin/python3 scripts/train/edm.py --minutes 50

DhariwalUNet 32x32x1, model_channels 16, channel_mult [1,2,4] (16/32/64 channels at 32/16/8 px), num_blocks 1, attention at 8x8,
label_dim 10 (one-hot; the all-zero label is the unconditional model, used with probability 0.1 in
training so classifier-free guidance works), EDMPrecond sigma_data 0.5. EDM loss (Karras et al.
2022): ln sigma ~ N(P_mean=-1.2, P_std=1.2), weight (sigma^2 + sd^2) / (sigma sd)^2. Adam 1e-3,
200 warm-up steps, EDM's initialisation, gradient norm clipped at 1, EMA 0.999 (with LitEma's warm-up); the EMA weights
are exported as an EDMPrecond state_dict (keys `model.*`, like EDM's own network pickles).
Final check: EDM Heun sampler with 18 steps (35 network evaluations), rho 7, sigma in [0.002, 80].
"""
import argparse

import torch

from common import Trainer, common_args, load_tensors, log, out_dir, set_threads, update_results, write_export
from edm_ref import DhariwalUNet, EDMPrecond
from quality import agreement_check
from torch_models import init_edm_dhariwal

NET = {"img_resolution": 32, "in_channels": 1, "out_channels": 1, "label_dim": 10, "model_channels": 16,
       "channel_mult": [1, 2, 4], "channel_mult_emb": 4, "num_blocks": 1, "attn_resolutions": [8],
       "channels_per_head": 64}
SIGMA_DATA, P_MEAN, P_STD, LABEL_DROPOUT = 0.5, -1.2, 1.2, 0.1


def build():
    net = EDMPrecond(DhariwalUNet(**NET), label_dim=NET["label_dim"], sigma_data=SIGMA_DATA)
    init_edm_dhariwal(net.model)
    return net


def one_hot(labels, keep):
    return torch.nn.functional.one_hot(labels, 10).float() * keep[:, None]


def edm_sigmas(steps, smin=0.002, smax=80.0, rho=7.0):
    i = torch.arange(steps, dtype=torch.float64)
    s = (smax ** (1 / rho) + i / (steps - 1) * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho
    return torch.cat([s, torch.zeros(1, dtype=torch.float64)])


@torch.no_grad()
def heun_sample(net, labels, g, guidance, steps=18):
    cond = one_hot(labels, torch.ones(len(labels)))
    null = torch.zeros_like(cond)

    def denoise(x, sigma):
        s = torch.full((len(x),), float(sigma))
        both = net(torch.cat([x, x]), torch.cat([s, s]), torch.cat([cond, null]))
        dc, du = both.chunk(2)
        return du + guidance * (dc - du)

    sig = edm_sigmas(steps)
    x = torch.randn(len(labels), 1, 32, 32, generator=g, dtype=torch.float64).float() * float(sig[0])
    for i in range(steps):
        s, s_next = float(sig[i]), float(sig[i + 1])
        d = (x - denoise(x, s)) / s
        x_next = x + (s_next - s) * d
        if s_next > 0:
            d2 = (x_next - denoise(x_next, s_next)) / s_next
            x_next = x + (s_next - s) * 0.5 * (d + d2)
        x = x_next
    return x.clamp(-1, 1)


def main():
    p = common_args(argparse.ArgumentParser(description=__doc__), minutes=50)
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--guidance", type=float, nargs="+", default=[2.0])
    args = p.parse_args()
    set_threads(args)
    xtr, ytr = load_tensors("train")
    net = build()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    trainer = Trainer("edm", net, opt, args, ema_decay=0.999, lr_warmup=200)

    def step_fn(step, g):
        idx = torch.randint(0, len(xtr), (args.batch,), generator=g)
        y = xtr[idx]
        keep = (torch.rand(args.batch, generator=g) >= LABEL_DROPOUT).float()
        labels = one_hot(ytr[idx], keep)
        sigma = (torch.randn(args.batch, generator=g) * P_STD + P_MEAN).exp()
        weight = (sigma ** 2 + SIGMA_DATA ** 2) / (sigma * SIGMA_DATA) ** 2
        n = torch.randn(y.shape, generator=g) * sigma[:, None, None, None]
        d = net(y + n, sigma, labels)
        loss = (weight[:, None, None, None] * (d - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        return {"loss": loss.item(), "grad_norm": float(gn)}

    done = trainer.run(step_fn, args.steps, log_every=25)
    if not (done or args.finalize):
        return
    config = {"architecture": "EDMPrecond(DhariwalUNet)", "network": NET, "sigma_data": SIGMA_DATA,
              "state_dict_prefix": "model.", "null_label": "all-zero one-hot (unconditional)",
              "label_dropout": LABEL_DROPOUT, "sigma_min": 0.002, "sigma_max": 80.0, "rho": 7.0,
              "P_mean": P_MEAN, "P_std": P_STD, "ema_decay": 0.999, "input_range": [-1, 1],
              "preprocessing": "Fashion-MNIST 28x28 padded by 2 background pixels per side to 32x32, p/127.5-1"}
    write_export("edm", trainer.export_state(), config, metadata={"steps": str(trainer.step)})
    ema = build()
    ema.load_state_dict(trainer.export_state())
    ema.eval()
    results = {"steps": trainer.step, "train_minutes": round(trainer.elapsed / 60, 2), "batch": args.batch}
    for w in args.guidance:
        r = agreement_check("edm", lambda lab, g: heun_sample(ema, lab, g, w), args.check_samples,
                            out_dir("edm"), w)
        results[f"check_cfg{w:g}"] = r
    update_results("edm", results)


if __name__ == "__main__":
    main()
