"""Shared pieces of the maintainer-only training scripts (run with Debian's /usr/bin/python3).

- Fashion-MNIST from the IDX files of Debian's `dataset-fashion-mnist` (FASHION_MNIST_DIR overrides
  /usr/share/datasets/fashion-mnist), mapped exactly as src/io/fashion-mnist.ts does: 28x28 bytes
  padded by 2 background pixels on each side to 32x32 (no resampling), p / 127.5 - 1, 1 channel.
- Chunked, resumable training: `Trainer` keeps model, EMA, optimiser and step in
  train-out/<model>/state.pt, stops when the chunk's wall-clock budget is spent, and appends every
  logged step to loss.csv. Each step's data and noise come from a generator seeded by (seed, step),
  so a resumed run draws exactly what an uninterrupted one would.
- Export: safetensors (hand-written format, scripts/fixtures/safetensors_io.py) + config.json.
"""
import csv
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "scripts", "fixtures"))
sys.path.insert(0, os.path.join(REPO, "scripts", "fixtures", "torch_ref"))

from safetensors_io import save_safetensors  # noqa: E402

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
OUT_ROOT = os.environ.get("TRAIN_OUT", os.path.join(REPO, "train-out"))


def dataset_dir():
    return os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")


def read_idx(path):
    """Parse an IDX file (gzipped or not) into a numpy uint8 array; only the ubyte type is used here."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    zero, dtype, ndim = raw[0:2], raw[2], raw[3]
    if zero != b"\x00\x00" or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {int(np.prod(dims))} values, found {data.size}")
    return data.reshape(dims)


def load_split(split):
    """(images uint8 [N,28,28], labels int64 [N]) of 'train' or 'test'."""
    prefix = "train" if split == "train" else "t10k"
    d = dataset_dir()
    img_path = os.path.join(d, f"{prefix}-images-idx3-ubyte.gz")
    if not os.path.exists(img_path):
        sys.exit(f"Fashion-MNIST not found at {d}: run scripts/setup-system.sh (or set FASHION_MNIST_DIR)")
    images = read_idx(img_path)
    labels = read_idx(os.path.join(d, f"{prefix}-labels-idx1-ubyte.gz")).astype(np.int64)
    return images, labels


def to_model_space(images_u8):
    """uint8 [N,28,28] -> float32 tensor [N,1,32,32] in [-1,1], 2 background pixels of padding per side."""
    x = torch.from_numpy(images_u8.astype(np.float32) / 127.5 - 1.0)
    x = torch.nn.functional.pad(x, (2, 2, 2, 2), value=-1.0)
    return x.unsqueeze(1).contiguous()


def load_tensors(split):
    images, labels = load_split(split)
    return to_model_space(images), torch.from_numpy(labels)


def out_dir(model):
    d = os.path.join(OUT_ROOT, model)
    os.makedirs(d, exist_ok=True)
    return d


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def step_generator(seed, step):
    g = torch.Generator()
    g.manual_seed(seed * 1_000_003 + step)
    return g


class Ema:
    """EMA of parameters with LitEma's warm-up: decay_n = min(decay, (1 + n) / (10 + n))."""

    def __init__(self, model, decay):
        self.decay = decay
        self.num_updates = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model):
        self.num_updates += 1
        d = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                self.shadow[k].copy_(v)

    def state_dict(self):
        return {"decay": self.decay, "num_updates": self.num_updates, "shadow": self.shadow}

    def load_state_dict(self, s):
        self.decay, self.num_updates, self.shadow = s["decay"], s["num_updates"], s["shadow"]


class Trainer:
    """Resumable chunked training loop. `step_fn(step, generator) -> dict of floats` does one update."""

    def __init__(self, name, model, optimizer, args, ema_decay=None, lr_warmup=0):
        self.name, self.model, self.opt, self.args = name, model, optimizer, args
        self.dir = out_dir(name)
        self.state_path = os.path.join(self.dir, "state.pt")
        self.csv_path = os.path.join(self.dir, "loss.csv")
        self.ema = Ema(model, ema_decay) if ema_decay else None
        self.lr_warmup = lr_warmup
        self.base_lr = [g["lr"] for g in optimizer.param_groups]
        self.step = 0
        self.elapsed = 0.0
        # The schedule length is part of the run's identity: resuming with another --steps would
        # stretch the learning-rate schedule, so it is stored and checked (see --extend).
        self.schedule_steps = args.steps
        if os.path.exists(self.state_path) and not args.restart:
            s = torch.load(self.state_path)
            model.load_state_dict(s["model"])
            optimizer.load_state_dict(s["optimizer"])
            if self.ema and s.get("ema"):
                self.ema.load_state_dict(s["ema"])
            self.step, self.elapsed = s["step"], s["elapsed"]
            stored = s.get("schedule_steps")
            if stored is not None and stored != args.steps and not args.extend:
                sys.exit(f"{name}: {self.state_path} was started with --steps {stored}, not {args.steps}: the "
                         f"learning-rate schedule depends on it, so resume with --steps {stored}, or pass --extend "
                         f"to change it knowingly (the run is then no longer reproducible by one command), or --restart")
            log(f"{name}: resumed at step {self.step} ({self.elapsed / 60:.1f} min trained so far)")
        else:
            log(f"{name}: starting from scratch ({sum(p.numel() for p in model.parameters())} parameters)")

    def save(self):
        s = {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "step": self.step,
             "elapsed": self.elapsed, "schedule_steps": self.schedule_steps, "ema": self.ema.state_dict() if self.ema else None}
        torch.save(s, self.state_path + ".tmp")
        os.replace(self.state_path + ".tmp", self.state_path)

    def run(self, step_fn, total_steps, log_every=50):
        """Train until total_steps or the chunk budget (args.minutes); returns True when finished."""
        budget = self.args.minutes * 60.0
        start = time.time()
        last_save = start
        new_file = not os.path.exists(self.csv_path) or self.args.restart
        if self.args.restart and os.path.exists(self.csv_path):
            os.remove(self.csv_path)
        fh = open(self.csv_path, "a", newline="")
        writer = None
        acc, n_acc = {}, 0
        self.model.train()
        stop_at = min(total_steps, self.args.stop_at) if self.args.stop_at else total_steps
        while self.step < stop_at and time.time() - start < budget:
            if self.lr_warmup:
                f = min(1.0, (self.step + 1) / self.lr_warmup)
                for g, lr in zip(self.opt.param_groups, self.base_lr):
                    g["lr"] = lr * f
            gen = step_generator(self.args.seed, self.step)
            # Global-RNG users (dropout) are seeded per step too, so a run split into chunks draws
            # exactly what one uninterrupted run draws.
            torch.manual_seed(self.args.seed * 1_000_003 + self.step + 500_000_000)
            t0 = time.time()
            stats = step_fn(self.step, gen)
            if self.ema:
                self.ema.update(self.model)
            self.elapsed += time.time() - t0
            self.step += 1
            for k, v in stats.items():
                acc[k] = acc.get(k, 0.0) + v
            n_acc += 1
            if self.step % log_every == 0 or self.step == total_steps:
                row = {"step": self.step, "minutes": round(self.elapsed / 60, 3)}
                row.update({k: v / n_acc for k, v in acc.items()})
                if writer is None:
                    fields = list(row.keys())
                    if not new_file:
                        fields = self._merge_csv_header(fh, fields)
                    writer = csv.DictWriter(fh, fieldnames=fields, restval="")
                    if new_file:
                        writer.writeheader()
                writer.writerow(row)
                fh.flush()
                log(f"{self.name} step {self.step}/{total_steps} " +
                    " ".join(f"{k}={v / n_acc:.5g}" for k, v in acc.items()))
                acc, n_acc = {}, 0
            if time.time() - last_save > 300:
                self.save()
                last_save = time.time()
        fh.close()
        self.save()
        log(f"{self.name}: chunk done at step {self.step}/{total_steps}, {self.elapsed / 60:.1f} min trained")
        return self.step >= total_steps

    def _merge_csv_header(self, fh, fields):
        """A resumed chunk may log new columns: rewrite loss.csv with the union header (old rows keep
        empty cells for the new columns) so every row stays aligned with the header."""
        fh.flush()
        with open(self.csv_path, newline="") as f:
            rows = list(csv.DictReader(f))
            f.seek(0)
            old = next(csv.reader(f), [])
        merged = old + [k for k in fields if k not in old]
        if merged != old:
            with open(self.csv_path, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=merged, restval="")
                w.writeheader()
                w.writerows(rows)
        return merged

    def export_state(self):
        """The weights to ship: EMA if kept, else the raw model."""
        if self.ema:
            return {k: v.clone() for k, v in self.ema.shadow.items()}
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}


def write_export(name, state_dict, config, metadata=None):
    d = out_dir(name)
    tensors = {k: v.float().contiguous() for k, v in state_dict.items()}
    save_safetensors(tensors, os.path.join(d, "model.safetensors"), metadata=metadata)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    log(f"{name}: wrote {d}/model.safetensors and config.json")


def update_results(name, results):
    path = os.path.join(out_dir(name), "results.json")
    old = {}
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
    old.update(results)
    with open(path, "w") as f:
        json.dump(old, f, indent=2)
        f.write("\n")


def common_args(parser, minutes=10.0):
    parser.add_argument("--minutes", type=float, default=minutes, help="wall-clock budget of this chunk")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 measured 4x faster than 2 on the shared, oversubscribed 2-core box")
    parser.add_argument("--restart", action="store_true", help="ignore state.pt and start from scratch")
    parser.add_argument("--extend", action="store_true",
                        help="allow resuming with a different --steps (changes the schedule mid-run)")
    parser.add_argument("--stop-at", type=int, default=0,
                        help="end this chunk at this step (default: at --steps or when --minutes run out)")
    parser.add_argument("--finalize", action="store_true",
                        help="export and evaluate now even if the step target is not reached")
    parser.add_argument("--check-samples", type=int, default=200,
                        help="class-conditional samples drawn for the final classifier-agreement check")
    return parser


def psnr(a, b, data_range=2.0):
    mse = ((a - b) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(data_range ** 2 / mse)


def save_grid(images, labels, path, title=None):
    """images [N,1,32,32] in [-1,1] with class labels [N]: one row per class, class name on the left."""
    from PIL import Image, ImageDraw

    x = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()[:, 0]
    classes = sorted(set(int(v) for v in labels))
    rows = {c: [i for i in range(len(labels)) if int(labels[i]) == c] for c in classes}
    cols = max(len(v) for v in rows.values())
    scale, pad, left, top = 2, 2, 80, 14 if title else 0
    cell = 32 * scale + pad
    img = Image.new("L", (left + cols * cell + pad, top + len(classes) * cell + pad), 255)
    draw = ImageDraw.Draw(img)
    if title:
        draw.text((2, 1), title, fill=0)
    for r, c in enumerate(classes):
        y0 = top + pad + r * cell
        draw.text((2, y0 + 32 * scale // 2 - 5), CLASS_NAMES[c], fill=0)
        for j, i in enumerate(rows[c]):
            tile = Image.fromarray(x[i]).resize((32 * scale, 32 * scale), Image.NEAREST)
            img.paste(tile, (left + pad + j * cell, y0))
    img.save(path)
    log(f"wrote {path}")


def set_threads(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
