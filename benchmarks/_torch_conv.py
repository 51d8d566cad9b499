"""The PyTorch side of the convolutional benchmarks: the Keras blog's model, run from its own venv.

Never imported by scratchae: `benchmarks/fidelity_conv.py` and `benchmarks/conv_speed.py`
start it with the Python of an environment that has torch and numpy (`--torch-python`), and
the two talk through files in a temporary folder and lines on stdin/stdout. It needs only
torch and numpy, not scratchae.

The model is written as a PyTorch user would write the blog's layers (channels first,
NCHW): nn.Conv2d 3x3 with padding=1 for Keras's padding='same' (stride 1: one zero on every
side, the same as Keras's rule) and padding=0 for the one 'valid' layer (16x16 -> 14x14);
nn.MaxPool2d(2, ceil_mode=True) for MaxPooling2D((2, 2), padding='same'): on 28 and 14 the
two agree trivially, and on 7 ceil_mode keeps a fourth window of one row (or column), the
cell past the edge ignored, which is what Keras's one padded cell at the bottom and right
(-inf for a max) gives: 7x7 -> 4x4; nn.Upsample(scale_factor=2) (nearest) for UpSampling2D;
nn.Sigmoid and nn.BCELoss (the mean over every pixel of the batch, as Keras's
binary_crossentropy on (N, 28, 28, 1) images); torch.optim.Adam.

Weights cross in scratchae's layout: kernels (kh, kw, in, out) become PyTorch's (out, in, kh,
kw) by transpose(3, 2, 0, 1), and gradients go back by transpose(2, 3, 1, 0); images (N, H,
W, C) become (N, C, H, W).

    grads DIR      read DIR/inputs.npz (x, the kernels and biases '<layer>/kernel', '<layer>/bias'
                   in scratchae's layout and dtype), write DIR/torch.npz: the loss and every
                   parameter's gradient by autograd, in scratchae's layout
    worker DATA    a timing worker: load the (n, 28, 28, 1) float32 array DATA.npy, then for
                   every line "epoch" on stdin train one epoch (batch 128, torch.randperm order,
                   PyTorch's default init: the plain way) and print its seconds ("warm": an epoch
                   of the first 2,048 images); "profile"
                   prints the forward and backward seconds of each module over one epoch's
                   batches as JSON; anything else ends it
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import torch
from torch import nn

#: scratchae's Conv2D layers of `autoencoders.convolutional()`, in order: model.convs[k] is the k-th
CONV_NAMES = ("encoder_conv_1", "encoder_conv_2", "encoder_conv_3", "decoder_conv_1",
              "decoder_conv_2", "decoder_conv_3", "output")


class BlogAutoencoder(nn.Module):
    """The Keras blog's convolutional autoencoder in PyTorch's own modules (see the docstring)."""

    def __init__(self, last_pool_padding: int = 0) -> None:
        """last_pool_padding=1: the third pool as MaxPool2d(2, padding=1) instead, also 7 -> 4
        but padded on every side, so its windows start one row and column earlier than
        Keras's: a wrong port, for the checker to catch (fidelity_conv.py --wrong pool)."""
        super().__init__()
        last_pool = nn.MaxPool2d(2, padding=1) if last_pool_padding else nn.MaxPool2d(2, ceil_mode=True)
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),    # 28 -> 14
            nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),    # 14 -> 7
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), last_pool)                           # 7 -> 4
        self.decoder = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2),         # 4 -> 8
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2),         # 8 -> 16
            nn.Conv2d(8, 16, 3), nn.ReLU(), nn.Upsample(scale_factor=2),                   # 16 -> 14 -> 28
            nn.Conv2d(16, 1, 3, padding=1), nn.Sigmoid())

    @property
    def convs(self) -> list[nn.Conv2d]:
        return [m for m in self.modules() if isinstance(m, nn.Conv2d)]

    def forward(self, x):
        return self.decoder(self.encoder(x))


def load_weights(model: BlogAutoencoder, arrays) -> None:
    """scratchae's kernels (kh, kw, in, out) and biases into the model's convolutions."""
    with torch.no_grad():
        for name, conv in zip(CONV_NAMES, model.convs):
            kernel = np.ascontiguousarray(arrays[f"{name}/kernel"].transpose(3, 2, 0, 1))
            if tuple(conv.weight.shape) != kernel.shape:
                raise ValueError(f"{name}/kernel {arrays[f'{name}/kernel'].shape} does not fit "
                                 f"{tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(kernel))
            conv.bias.copy_(torch.from_numpy(arrays[f"{name}/bias"]))


def nchw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def grads(folder: str, wrong_pool: bool = False) -> None:
    """inputs.npz -> torch.npz: 'loss' and '<layer>/kernel', '<layer>/bias' gradients."""
    a = np.load(os.path.join(folder, "inputs.npz"))
    x = nchw(a["x"])
    model = BlogAutoencoder(last_pool_padding=int(wrong_pool)).to(x.dtype)
    load_weights(model, a)
    loss = nn.BCELoss()(model(x), x)
    loss.backward()
    out = {"loss": np.array(loss.item())}
    for name, conv in zip(CONV_NAMES, model.convs):
        out[f"{name}/kernel"] = conv.weight.grad.numpy().transpose(2, 3, 1, 0)
        out[f"{name}/bias"] = conv.bias.grad.numpy()
    np.savez(os.path.join(folder, "torch.npz"), **out)


def train_epoch(model, opt, loss_fn, x, order, batch: int) -> float:
    total = 0.0
    for i in range(0, len(order), batch):
        xb = x[order[i:i + batch]]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), xb)
        loss.backward()
        opt.step()
        total += loss.item() * len(xb)
    return total / len(order)


def profile(model, x, batch: int) -> dict:
    """{module: [forward s, backward s]} over one epoch's batches (no update), from hooks
    that synchronise nothing (CPU: each module's work is done when its hook runs)."""
    times: dict[str, list[float]] = {}
    marks: dict[str, float] = {}
    handles = []
    for name, m in model.named_modules():
        if list(m.children()):
            continue
        times[name] = [0.0, 0.0]
        handles += [
            m.register_forward_pre_hook(lambda mod, i, n=name: marks.__setitem__(n, time.perf_counter())),
            m.register_forward_hook(lambda mod, i, o, n=name: times[n].__setitem__(
                0, times[n][0] + time.perf_counter() - marks[n])),
            m.register_full_backward_pre_hook(lambda mod, g, n=name: marks.__setitem__(n, time.perf_counter())),
            m.register_full_backward_hook(lambda mod, gi, go, n=name: times[n].__setitem__(
                1, times[n][1] + time.perf_counter() - marks[n]))]
    loss_fn = nn.BCELoss()
    warnings.filterwarnings("ignore", message="Full backward hook is firing")   # the first conv's: no dx
    try:
        for i in range(0, len(x), batch):
            xb = x[i:i + batch]
            model.zero_grad(set_to_none=True)
            loss_fn(model(xb), xb).backward()
    finally:
        for h in handles:
            h.remove()
    return times


def worker(data: str, threads: int | None, batch: int, seed: int) -> None:
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x = nchw(np.load(data))
    model = BlogAutoencoder()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCELoss()
    gen = torch.Generator().manual_seed(seed)
    print(f"ready torch {torch.__version__} threads {torch.get_num_threads()}", flush=True)
    for line in sys.stdin:
        word = line.strip()
        if word in ("epoch", "warm"):             # warm: an epoch of the first 2,048 images
            n = len(x) if word == "epoch" else min(len(x), 2048)
            t = time.perf_counter()
            train_epoch(model, opt, loss_fn, x, torch.randperm(n, generator=gen), batch)
            print(f"{time.perf_counter() - t:.6f}", flush=True)
        elif word == "profile":
            print(json.dumps(profile(model, x, batch)), flush=True)
        else:
            break


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=["grads", "worker"])
    p.add_argument("path", help="grads: the folder of inputs.npz; worker: the .npy of the images")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--wrong-pool", action="store_true", help="grads: the wrong 7 -> 4 pool (see BlogAutoencoder)")
    args = p.parse_args(argv)
    if args.mode == "grads":
        grads(args.path, args.wrong_pool)
    else:
        worker(args.path, args.threads or None, args.batch_size, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
