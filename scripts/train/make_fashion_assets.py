"""Write the Fashion-MNIST files shipped in the repo (run once by a maintainer; needs the dataset).

  /usr/bin/python3 scripts/train/make_fashion_assets.py

- assets/fashion/test-0000.png ... test-0015.png: the first 16 test images, preprocessed exactly as
  flow does (28x28 padded by 2 background pixels per side to 32x32, 8-bit grayscale; no resampling),
  plus labels.json ({"labels": {"test-0000": 9, ...}, "classes": [...]}) read by the `load` node.
- test/fixtures/fashion/: a miniature dataset in the official IDX layout (gzipped) holding the first
  16 test and the first 8 training images with their labels, so tests can exercise the IDX source
  (FASHION_MNIST_DIR=test/fixtures/fashion) without the Debian package.
"""
import gzip
import json
import os
import struct

import numpy as np
from PIL import Image

from common import CLASS_NAMES, REPO, load_split


def idx_bytes(array):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.astype(np.uint8).tobytes()


def main():
    test_x, test_y = load_split("test")
    train_x, train_y = load_split("train")
    assets = os.path.join(REPO, "assets", "fashion")
    os.makedirs(assets, exist_ok=True)
    labels = {}
    for i in range(16):
        key = f"test-{i:04d}"
        padded = np.pad(test_x[i], 2, constant_values=0)
        Image.fromarray(padded, mode="L").save(os.path.join(assets, f"{key}.png"), optimize=True)
        labels[key] = int(test_y[i])
    doc = {"source": "fashion-mnist:test[0:16]",
           "preprocessing": "28x28 padded by 2 background pixels per side to 32x32 (no resampling)",
           "classes": CLASS_NAMES, "labels": labels}
    with open(os.path.join(assets, "labels.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    fixtures = os.path.join(REPO, "test", "fixtures", "fashion")
    os.makedirs(fixtures, exist_ok=True)
    for prefix, x, y, n in (("t10k", test_x, test_y, 16), ("train", train_x, train_y, 8)):
        for kind, arr in (("images-idx3", x[:n]), ("labels-idx1", y[:n])):
            with gzip.GzipFile(os.path.join(fixtures, f"{prefix}-{kind}-ubyte.gz"), "wb", mtime=0) as f:
                f.write(idx_bytes(np.asarray(arr)))
    print("wrote", assets, "and", fixtures)


if __name__ == "__main__":
    main()
