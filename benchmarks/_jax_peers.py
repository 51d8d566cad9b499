"""The JAX side of `benchmarks/peers.py`: the vanilla autoencoder jitted, from its own venv.

Never imported by scratchae: peers.py starts it with the Python of an environment that has
jax and numpy (`--jax-python`). It needs only jax and numpy (no optax, no flax: the model and
Adam are a few lines here).

    worker DATA BATCH HIDDEN VARIANT [--threads N]

loads the (n, 784) float32 array DATA (.npy) onto the device, builds 784-HIDDEN-32-HIDDEN-784
(ReLU, sigmoid out; Glorot-uniform kernels, zero biases), Adam in Keras's form (lr 1e-3,
beta 0.9/0.999, eps 1e-7 added to sqrt(v)), BCE from the logits (what XLA fuses best; the
sigmoid's output is never needed in training), prints "ready <what>", then for every line
"epoch" on stdin trains one epoch of shuffled batches and prints its seconds (the last
result waited for: block_until_ready); "quit" ends it. VARIANT:

    jit    one jitted step per batch, as Keras 3 on the JAX backend runs `fit`: the batch's
           indices go in, the gather, forward, loss, backward and Adam are one XLA program
    scan   the epoch's full batches as one jitted lax.scan over that step (the last, shorter
           batch, if any, by the jitted step)

--threads 1: XLA's CPU client with one intra-op thread (XLA_FLAGS); 0: its default.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from functools import partial


def worker(data: str, batch: int, hidden: int, variant: str, threads: int) -> int:
    if threads == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    import numpy as np
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(np.load(data))
    n = int(x.shape[0])
    sizes = [784, hidden, 32, hidden, 784]
    key = jax.random.PRNGKey(0)
    params = []
    for a, b in zip(sizes, sizes[1:]):
        key, sub = jax.random.split(key)
        limit = (6.0 / (a + b)) ** 0.5                 # Glorot uniform
        params.append((jax.random.uniform(sub, (a, b), jnp.float32, -limit, limit),
                       jnp.zeros((b,), jnp.float32)))
    def zeros():
        return jax.tree_util.tree_map(jnp.zeros_like, params)
    state = (params, zeros(), zeros(), jnp.zeros((), jnp.int32))   # m and v: two buffers (donated)
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-7

    def loss_fn(params, xb):
        h = xb
        for w, b in params[:-1]:
            h = jax.nn.relu(h @ w + b)
        w, b = params[-1]
        z = h @ w + b
        # BCE on logits: softplus(z) - y z, the mean over all elements
        return jnp.mean(jnp.maximum(z, 0) + jnp.log1p(jnp.exp(-jnp.abs(z))) - xb * z)

    def step(state, xb):
        params, m, v, t = state
        loss, g = jax.value_and_grad(loss_fn)(params, xb)
        t = t + 1
        a_t = lr * jnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        params = jax.tree_util.tree_map(lambda p, m, v: p - a_t * m / (jnp.sqrt(v) + eps), params, m, v)
        return (params, m, v, t), loss

    @partial(jax.jit, donate_argnums=0)
    def batch_step(state, idx):
        return step(state, x[idx])

    full = n // batch

    @partial(jax.jit, donate_argnums=0)
    def epoch_scan(state, order):
        idx = order[:full * batch].reshape(full, batch)
        state, losses = jax.lax.scan(lambda s, i: step(s, x[i]), state, idx)
        return state, losses[-1]

    rng = np.random.default_rng(0)
    what = {"jit": "JAX, one jitted step per batch", "scan": "JAX, the epoch as one jitted lax.scan"}[variant]
    print(f"ready {what}, jax {jax.__version__}, threads {threads or 'default'}", flush=True)
    for line in sys.stdin:
        if line.strip() != "epoch":
            break
        t = time.perf_counter()
        order = rng.permutation(n).astype(np.int32)
        if variant == "scan":
            state, loss = epoch_scan(state, jnp.asarray(order))
            start = full * batch
        else:
            start = 0
        for i in range(start, n, batch):
            state, loss = batch_step(state, order[i:i + batch])
        value = float(jax.block_until_ready(loss))
        print(f"{time.perf_counter() - t:.6f} {value:.6f}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["worker"])
    p.add_argument("data")
    p.add_argument("batch", type=int)
    p.add_argument("hidden", type=int)
    p.add_argument("variant", choices=["jit", "scan"])
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args(argv)
    return worker(a.data, a.batch, a.hidden, a.variant, a.threads)


if __name__ == "__main__":
    sys.exit(main())
