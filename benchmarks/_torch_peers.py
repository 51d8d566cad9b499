"""The PyTorch side of `benchmarks/peers.py`: the vanilla autoencoder in three ways, from its own venv.

Never imported by scratchae: peers.py starts it with the Python of an environment that has
torch and numpy (`--torch-python`). It needs only torch and numpy.

    worker DATA BATCH HIDDEN VARIANT [--threads N]

loads the (n, 784) float32 array DATA (.npy), builds 784-HIDDEN-32-HIDDEN-784 (ReLU, sigmoid
out; Glorot-uniform kernels, zero biases: Keras's initialisation), Adam lr 1e-3, eps 1e-7,
BCE, prints "ready <what>", then for every line "epoch" on stdin trains one epoch of shuffled
batches (torch.randperm) and prints its seconds; "quit" ends it. VARIANT:

    eager     as users write it: nn.Sigmoid + nn.BCELoss, torch.optim.Adam (its default
              for-loop form on CPU), zero_grad(), PyTorch's default threads
    tuned     the sigmoid left to nn.BCEWithLogitsLoss, Adam(foreach=True),
              zero_grad(set_to_none=True)
    compile   the tuned step, forward, loss, backward and the optimizer's step, as one
              function under torch.compile (its graph breaks are PyTorch's business)

--threads N: torch.set_num_threads(N) (0: PyTorch's default).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from torch import nn


def build(hidden: int, logits: bool) -> nn.Sequential:
    sizes = [784, hidden, 32, hidden, 784]
    mods: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        lin = nn.Linear(a, b)
        nn.init.xavier_uniform_(lin.weight)          # Glorot uniform, as Keras's Dense
        nn.init.zeros_(lin.bias)
        mods.append(lin)
        if i < len(sizes) - 2:
            mods.append(nn.ReLU())
        elif not logits:
            mods.append(nn.Sigmoid())
    return nn.Sequential(*mods)


def make_step(variant: str, hidden: int):
    torch.manual_seed(0)
    if variant == "eager":
        net = build(hidden, logits=False)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
        loss_fn = nn.BCELoss()

        def step(xb):
            opt.zero_grad()
            loss = loss_fn(net(xb), xb)
            loss.backward()
            opt.step()
            return loss
        return step, "torch eager (Sigmoid + BCELoss, Adam)"
    net = build(hidden, logits=True)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7, foreach=True)
    loss_fn = nn.BCEWithLogitsLoss()

    def step(xb):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), xb)
        loss.backward()
        opt.step()
        return loss
    if variant == "tuned":
        return step, "torch tuned (BCEWithLogits, foreach Adam)"
    if variant == "compile":
        return torch.compile(step), "torch.compile of the whole tuned step"
    raise SystemExit(f"unknown variant {variant!r}")


def worker(data: str, batch: int, hidden: int, variant: str, threads: int) -> int:
    if threads:
        torch.set_num_threads(threads)
    x = torch.from_numpy(np.load(data))
    step, what = make_step(variant, hidden)
    gen = torch.Generator().manual_seed(0)
    n = len(x)
    print(f"ready {what}, torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    for line in sys.stdin:
        if line.strip() != "epoch":
            break
        t = time.perf_counter()
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, batch):
            loss = step(x[order[i:i + batch]])
        value = float(loss.detach())
        print(f"{time.perf_counter() - t:.6f} {value:.6f}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["worker"])
    p.add_argument("data")
    p.add_argument("batch", type=int)
    p.add_argument("hidden", type=int)
    p.add_argument("variant", choices=["eager", "tuned", "compile"])
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args(argv)
    return worker(a.data, a.batch, a.hidden, a.variant, a.threads)


if __name__ == "__main__":
    sys.exit(main())
