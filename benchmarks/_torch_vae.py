"""The PyTorch side of the VAE benchmarks: pytorch/examples/vae's model, run from its own venv.

Never imported by scratchae: `benchmarks/fidelity_vae.py` and `benchmarks/train_speed.py --vae`
start it with the Python of an environment that has torch and numpy (`--torch-python`), and
the two talk through files in a temporary folder and through lines on stdin/stdout. It needs
only torch and numpy, not scratchae.

The model is pytorch/examples/vae's (fc1 784-400 relu, fc21/fc22 400-20 for mu and logvar,
z = mu + exp(0.5 logvar) * eps, fc3 20-400 relu, fc4 400-784 sigmoid), its loss
F.binary_cross_entropy(recon, x, reduction="sum") + KLD, KLD = -0.5 sum(1 + logvar - mu^2 -
exp(logvar)), both summed over the batch; divided by the batch's size before backward
(--loss mean, the default: nats per image, as scratchae's loss is) or not (--loss sum:
pytorch/examples' own backward of the batch sum, which Adam sees differently only through
its epsilon and the epoch's last, shorter batch).

    fidelity DIR   read DIR/inputs.npz (see `fidelity`), train, write DIR/torch.json
    worker DATA    a timing worker: load the (n, 784) float32 array DATA.npy, then for every
                   line "epoch" on stdin train one epoch (torch.randperm order, torch.randn_like
                   noise: PyTorch's plain way) and print its seconds; "quit" ends it
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# scratchae's layer names -> the example's module names (kernel (in, out) = weight.T)
LAYERS = {"hidden_1": "fc1", "z_mean": "fc21", "z_log_var": "fc22", "hidden_2": "fc3", "output": "fc4"}


class VAE(nn.Module):
    def __init__(self, input_dim: int = 784, hidden: int = 400, latent: int = 20) -> None:
        super().__init__()
        self.fc1 = nn.Linear(input_dim, hidden)
        self.fc21 = nn.Linear(hidden, latent)
        self.fc22 = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, input_dim)

    def encode(self, x):
        h = F.relu(self.fc1(x))
        return self.fc21(h), self.fc22(h)

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x, eps=None):
        """eps None: z = mu (the posterior's mean); else z = mu + exp(0.5 logvar) * eps."""
        mu, logvar = self.encode(x)
        z = mu if eps is None else mu + torch.exp(0.5 * logvar) * eps
        return self.decode(z), mu, logvar


def loss_parts(recon, x, mu, logvar):
    """(BCE, KLD), each summed over the batch (pytorch/examples' loss_function, in two)."""
    bce = F.binary_cross_entropy(recon, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce, kld


def train_epoch(model, opt, x, order, batch: int, noise, mean: bool) -> float:
    """One epoch over x[order] in batches; noise(rows) gives each batch's eps. The mean
    training loss per image (BCE + KLD, nats)."""
    total = 0.0
    model.train()
    for i in range(0, len(order), batch):
        xb = x[order[i:i + batch]]
        opt.zero_grad(set_to_none=True)
        mu, logvar = model.encode(xb)
        z = mu + torch.exp(0.5 * logvar) * noise(len(xb))
        bce, kld = loss_parts(model.decode(z), xb, mu, logvar)
        loss = bce + kld
        (loss / len(xb) if mean else loss).backward()
        opt.step()
        total += loss.item()
    return total / len(order)


@torch.no_grad()
def test_loss(model, x, batch: int, noise=None) -> dict:
    """The test negative ELBO per image and its parts: z = mu when noise is None, else one
    draw of eps per image (what pytorch/examples' test() computes)."""
    model.eval()
    bce_sum = kld_sum = 0.0
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        recon, mu, logvar = model(xb, None if noise is None else noise(len(xb)))
        bce, kld = loss_parts(recon, xb, mu, logvar)
        bce_sum, kld_sum = bce_sum + float(bce), kld_sum + float(kld)
    n = len(x)
    return {"loss": (bce_sum + kld_sum) / n, "reconstruction_loss": bce_sum / n, "kl": kld_sum / n}


def numpy_noise(rng: np.random.Generator, latent: int):
    """eps drawn as scratchae's Sampling draws it: float64 standard normals cast to float32,
    one (rows, latent) block per batch, from the same generator, so both sides see the same eps."""
    return lambda rows: torch.from_numpy(rng.standard_normal((rows, latent)).astype(np.float32))


def load_weights(model: VAE, arrays) -> None:
    """scratchae's kernels and biases ('<layer>/kernel' (in, out), '<layer>/bias') into the
    model: weight = kernel.T."""
    with torch.no_grad():
        for ours, theirs in LAYERS.items():
            lin = getattr(model, theirs)
            kernel, bias = arrays[f"{ours}/kernel"], arrays[f"{ours}/bias"]
            if lin.weight.shape != kernel.T.shape:
                raise ValueError(f"{ours}/kernel {kernel.shape} does not fit {theirs} {tuple(lin.weight.shape)}")
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.T)))
            lin.bias.copy_(torch.from_numpy(bias))


def fidelity(folder: str, threads: int) -> None:
    """inputs.npz: x_train, x_test (float32), orders (epochs, n_train) int64, the initial
    weights '<layer>/kernel', '<layer>/bias', and the scalars batch, lr, epsilon, noise_seed,
    test_seed, mean (1/0). Per epoch: the training loss, the test loss at z = mu and with one
    draw of eps (from default_rng(test_seed + epoch), the same as scratchae's side)."""
    torch.set_num_threads(threads)
    a = np.load(os.path.join(folder, "inputs.npz"))
    x, x_test = torch.from_numpy(a["x_train"]), torch.from_numpy(a["x_test"])
    orders = torch.from_numpy(a["orders"])
    batch, latent = int(a["batch"]), int(a["z_mean/bias"].shape[0])
    model = VAE(x.shape[1], int(a["hidden_1/bias"].shape[0]), latent)
    load_weights(model, a)
    opt = torch.optim.Adam(model.parameters(), lr=float(a["lr"]), eps=float(a["epsilon"]))
    noise = numpy_noise(np.random.default_rng(int(a["noise_seed"])), latent)
    rows = []
    for epoch, order in enumerate(orders):
        t = time.perf_counter()
        train = train_epoch(model, opt, x, order, batch, noise, bool(a["mean"]))
        seconds = time.perf_counter() - t
        mean = test_loss(model, x_test, batch)
        sampled = test_loss(model, x_test, batch,
                            numpy_noise(np.random.default_rng(int(a["test_seed"]) + epoch), latent))
        rows.append({"train": train, "test_mean": mean, "test_sampled": sampled, "seconds": seconds})
        print(f"torch epoch {epoch + 1}: train {train:.4f} test {mean['loss']:.4f} ({seconds:.1f} s)",
              file=sys.stderr, flush=True)
    with open(os.path.join(folder, "torch.json"), "w") as f:
        json.dump({"torch": torch.__version__, "threads": threads, "epochs": rows}, f)


def worker(data: str, threads: int | None, batch: int, seed: int, mean: bool) -> None:
    """Train one epoch per "epoch" line on stdin, answer its seconds; PyTorch's default init."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x = torch.from_numpy(np.load(data))
    model = VAE(x.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    gen = torch.Generator().manual_seed(seed)
    noise = lambda rows: torch.randn(rows, 20)
    print(f"ready torch {torch.__version__} threads {torch.get_num_threads()}", flush=True)
    for line in sys.stdin:
        if line.strip() != "epoch":
            break
        t = time.perf_counter()
        train_epoch(model, opt, x, torch.randperm(len(x), generator=gen), batch, noise, mean)
        print(f"{time.perf_counter() - t:.6f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=["fidelity", "worker"])
    p.add_argument("path", help="fidelity: the folder of inputs.npz; worker: the .npy of the data")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--loss", choices=["mean", "sum"], default="mean")
    args = p.parse_args(argv)
    if args.mode == "fidelity":
        fidelity(args.path, args.threads or torch.get_num_threads())
    else:
        worker(args.path, args.threads or None, args.batch_size, args.seed, args.loss == "mean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
