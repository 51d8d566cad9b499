"""scratchae against its strongest peers: PyTorch (eager, tuned, compiled) and JAX (jit, scan).

The article's vanilla autoencoder, 784-h-32-h-784 (ReLU, sigmoid out), Glorot-uniform kernels
and zero biases, Adam (lr 1e-3, eps 1e-7), binary cross-entropy, shuffled batches of full
Fashion-MNIST (or the bundled digits tiled to 60,000 images), seconds per epoch. **Each
measurement runs in its own process** (no other library's thread pool beside it), started
once per row; one warm-up round (JAX's and torch.compile's compilations happen there), then
--rounds timed rounds in which every process trains one epoch in turn (the order rotating
from round to round), each timing its own epoch, so that a drift of the shared machine's
speed falls on all of them alike.

  scratchae         `Model.fit` of `autoencoders.vanilla`, one epoch per call (its own BLAS
                    thread policy, scratchae/_blas.py)
  floor             only the step's 12 matrix products (train_speed.floor_epochs), with one
                    BLAS thread and with NumPy's default: the faster by median
  torch eager       nn.Sigmoid + nn.BCELoss, torch.optim.Adam, PyTorch's default threads
  torch tuned       BCEWithLogitsLoss, Adam(foreach=True): the best of --torch-threads
  torch.compile     the tuned step as one torch.compile'd function: the best of --torch-threads
  JAX jit           one jitted step per batch (as Keras 3 on JAX runs fit)
  JAX scan          the epoch as one jitted lax.scan

(benchmarks/_torch_peers.py and benchmarks/_jax_peers.py have the peers' code.) Printed per
row: each peer's median and best seconds, its median over scratchae's (above 1: scratchae is
faster), the floor, and scratchae over the floor.

PyTorch and JAX are never dependencies: each runs from its own environment, e.g.

    python -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy
    python -m venv /tmp/jaxenv && /tmp/jaxenv/bin/pip install jax
    python benchmarks/peers.py --torch-python /tmp/torchenv/bin/python \\
        --jax-python /tmp/jaxenv/bin/python --rounds 5
    python benchmarks/peers.py --rows 32/128 --rounds 3 --only scratchae floor jax-jit
    python benchmarks/peers.py --only scratchae --before --scratchae-off blas-adam zero-skip \
        --scratchae-on overlap-adam buffered-loss

--before adds scratchae with the fast pieces of issue 27 off (the step as it was before
them), --scratchae-off one line per piece left out, --scratchae-on one per tried piece
switched on: what each buys, whole epochs, each in its own process.

A peer whose environment is not given is left out; one that fails (torch.compile without a
C++ compiler, say) is reported with the last line of its error, and the others go on.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import step_profile  # noqa: E402  (the switches of the fast pieces)
import train_speed  # noqa: E402  (the floor, the data, the workers and the turns: one piece of code)

TORCH = os.path.join(HERE, "_torch_peers.py")
JAX = os.path.join(HERE, "_jax_peers.py")
ME = os.path.abspath(__file__)
PEERS = ("scratchae", "floor", "torch-eager", "torch-tuned", "torch-compile", "jax-jit", "jax-scan")
LABELS = {"scratchae": "scratchae", "floor": "floor", "torch-eager": "PyTorch eager",
          "torch-tuned": "PyTorch tuned", "torch-compile": "torch.compile", "jax-jit": "JAX jit",
          "jax-scan": "JAX scan"}


# -- this script's own workers: scratchae and the floor ------------------------------------------
def worker(kind: str, data: str, batch: int, hidden: int, threads: int, env: dict[str, str]) -> int:
    """One epoch per "epoch" line on stdin, its seconds (and a note) on stdout. env: set in
    os.environ first; PIECES=off switches issue 27's fast pieces off (the step as it was)."""
    off = env.pop("PIECES", "")         # "off": all of them; "off:a,b": those; "on:a": a tried one on
    before = off == "off"
    os.environ.update(env)
    if off.startswith("on:"):
        step_profile.switch_off(off[3:].split(","), on=True)
    elif off:
        step_profile.switch_off(list(step_profile.PIECES) if before else off[4:].split(","))
    x = np.load(data)
    if kind == "floor":
        epoch = train_speed.floor_epochs(len(x), batch, hidden, threads or None)
        epoch()                                                       # warm-up
        note = lambda: f"{threads or 'default'} threads"              # noqa: E731
        what = f"floor, {threads or 'default'} BLAS threads"
    else:
        epoch = train_speed.scratchae_epochs(x, batch, hidden)        # warms up itself
        note = lambda: train_speed.threads_used(epoch.steps)          # noqa: E731
        what = "scratchae Model.fit" + (", issue 27's fast pieces off" if before else
                                        f", {off[3:]} on" if off.startswith("on:") else
                                        f", {off[4:]} off" if off else "") + \
            "".join(f", {k}={v}" for k, v in env.items())
    print(f"ready {what}", flush=True)
    for line in sys.stdin:
        if line.strip() != "epoch":
            break
        if kind != "floor":
            epoch.steps.clear()
        t = time.perf_counter()
        epoch()
        print(f"{time.perf_counter() - t:.6f} {note()}", flush=True)
    return 0


# -- the driver ----------------------------------------------------------------------------------
def commands(args, data: str, batch: int, hidden: int) -> dict[str, tuple[str, list[str]]]:
    """{worker name: (peer, command)} for one row."""
    rb = [data, str(batch), str(hidden)]
    out: dict[str, tuple[str, list[str]]] = {}
    want = set(args.only or PEERS)
    if "scratchae" in want:
        out["scratchae"] = ("scratchae", [sys.executable, ME, "--worker", "scratchae", *rb])
        extras = {"scratchae before": "PIECES=off"} if args.before else {}
        extras.update({f"scratchae without {piece}": f"PIECES=off:{piece}" for piece in args.scratchae_off or ()})
        extras.update({f"scratchae with {piece}": f"PIECES=on:{piece}" for piece in args.scratchae_on or ()})
        extras.update({f"scratchae {e}": e for e in args.scratchae_env or ()})
        for name, extra in extras.items():
            out[name] = ("scratchae", [sys.executable, ME, "--worker", "scratchae", *rb, "--env", extra])
    if "floor" in want:
        for t in (1, 0):
            out[f"floor t{t or 'default'}"] = ("floor", [sys.executable, ME, "--worker", "floor", *rb,
                                                         "--threads", str(t)])
    if args.torch_python:
        if "torch-eager" in want:
            out["torch-eager"] = ("torch-eager", [args.torch_python, TORCH, "worker", *rb, "eager"])
        for v in ("tuned", "compile"):
            if f"torch-{v}" in want:
                for t in args.torch_threads:
                    out[f"torch-{v} t{t}"] = (f"torch-{v}", [args.torch_python, TORCH, "worker", *rb, v,
                                                             "--threads", str(t)])
    if args.jax_python:
        for v in ("jit", "scan"):
            if f"jax-{v}" in want:
                for t in args.jax_threads:
                    out[f"jax-{v} t{t or 'default'}"] = (f"jax-{v}", [args.jax_python, JAX, "worker", *rb, v,
                                                                       "--threads", str(t)])
    return out


def last_error_line(path: str) -> str:
    with open(path, errors="replace") as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    errors = [ln for ln in lines if "Error" in ln or "error" in ln]
    return (errors or lines or ["no message"])[-1][:300]


def run_row(args, data: str, batch: int, hidden: int, folder: str) -> dict:
    """Start every worker of a row, take turns, and return the times and the failures."""
    cmds = commands(args, data, batch, hidden)
    workers, failed, logs = {}, {}, {}
    for name, (_, cmd) in cmds.items():
        logs[name] = os.path.join(folder, f"{name.replace(' ', '_')}.err")
        try:
            workers[name] = train_speed.Worker(cmd, stderr=open(logs[name], "w"))
        except RuntimeError:
            failed[name] = last_error_line(logs[name])

    def runner(name):
        def run():
            if name in failed:
                return float("nan")
            try:
                return workers[name]()
            except (RuntimeError, ValueError, BrokenPipeError):
                failed[name] = last_error_line(logs[name])
                return float("nan")
        return run

    names = list(workers)
    times: dict[str, list[float]] = {n: [] for n in names}
    try:
        for r in range(args.rounds + 1):                  # round 0: the warm-up
            k = r % max(len(names), 1)
            order = names[k:] + names[:k]
            got = train_speed.interleaved({n: runner(n) for n in order}, 1)
            if r:
                for n in names:
                    if got[n][0] == got[n][0]:            # not NaN
                        times[n].append(got[n][0])
            print(f"  round {r or 'warm-up'}: " + ", ".join(f"{n} {got[n][0]:.2f}" for n in names),
                  file=sys.stderr, flush=True)
    finally:
        for name, w in workers.items():
            try:
                w.close()
            except Exception:                             # a dead worker: nothing to close
                w.proc.kill()
    hello = {n: w.hello for n, w in workers.items()}
    return {"times": {n: t for n, t in times.items() if t}, "failed": failed, "hello": hello,
            "peer": {n: p for n, (p, _) in cmds.items()}}


def summarise(batch: int, hidden: int, got: dict) -> dict:
    """Per peer: the worker (thread count) with the best median, its median and best."""
    per: dict[str, tuple[str, list[float]]] = {}
    for name, t in got["times"].items():
        peer = got["peer"][name]
        if name.startswith("scratchae "):
            peer = name                                   # a variant: its own line
        if peer not in per or statistics.median(t) < statistics.median(per[peer][1]):
            per[peer] = (name, t)
    ours = statistics.median(per["scratchae"][1]) if "scratchae" in per else None
    rows = {}
    for peer, (name, t) in per.items():
        med = statistics.median(t)
        rows[peer] = {"worker": name, "median_s": med, "best_s": min(t), "all_s": t,
                      "over_scratchae": (med / ours) if ours else None}
    return {"batch_size": batch, "hidden_size": hidden, "peers": rows, "failed": got["failed"],
            "workers": got["hello"]}


def print_row(row: dict) -> None:
    b, h = row["batch_size"], row["hidden_size"]
    print(f"\nbatch {b} / hidden {h}")
    print(f"  {'peer':<38} {'median s':>9} {'best s':>7} {'/ scratchae':>11}")
    peers = row["peers"]
    order = [p for p in PEERS if p in peers] + sorted(p for p in peers if p not in PEERS)
    for peer in order:
        r = peers[peer]
        label = LABELS.get(peer, peer)
        detail = r["worker"].split(" ", 1)[1] if " " in r["worker"] and peer in PEERS else ""
        detail = {"tdefault": "default threads", "t1": "1 thread"}.get(detail, detail.replace("t", "") +
                                                                       " threads" if detail else "")
        ratio = "" if r["over_scratchae"] is None or peer == "scratchae" else f"{r['over_scratchae']:.2f}"
        print(f"  {label + (f' ({detail})' if detail else ''):<38} {r['median_s']:>9.2f} "
              f"{r['best_s']:>7.2f} {ratio:>11}")
    if "floor" in peers and "scratchae" in peers:
        print(f"  scratchae / floor: {peers['scratchae']['median_s'] / peers['floor']['median_s']:.2f} "
              f"(medians), {peers['scratchae']['best_s'] / peers['floor']['best_s']:.2f} (bests)")
    for name, why in row["failed"].items():
        print(f"  {name}: FAILED: {why}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", nargs="+", default=["32/128", "256/128", "256/512"],
                   help="batch/hidden pairs (e.g. 64/128 128/512)")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds after the warm-up round")
    p.add_argument("--torch-python", help="the Python of an environment with torch and numpy")
    p.add_argument("--jax-python", help="the Python of an environment with jax")
    p.add_argument("--torch-threads", type=int, nargs="+", default=[1, 2],
                   help="torch.set_num_threads for tuned and compile (the best is kept)")
    p.add_argument("--jax-threads", type=int, nargs="+", default=[0],
                   help="XLA CPU threads: 0 its default, 1 one intra-op thread (the best is kept)")
    p.add_argument("--only", nargs="+", choices=PEERS, help="measure only these")
    p.add_argument("--scratchae-env", nargs="+", metavar="VAR=VALUE",
                   help="also scratchae with this environment variable set, as its own line")
    p.add_argument("--scratchae-off", nargs="+", choices=step_profile.PIECES, metavar="PIECE",
                   help="also scratchae without this fast piece, one line each "
                        f"({', '.join(step_profile.PIECES)})")
    p.add_argument("--scratchae-on", nargs="+", choices=step_profile.TRIED, metavar="PIECE",
                   help="also scratchae with this tried piece on, one line each "
                        f"({', '.join(step_profile.TRIED)})")
    p.add_argument("--before", action="store_true",
                   help="also scratchae with the fast pieces of issue 27 off (step_profile.PIECES): "
                        "the step as it was")
    p.add_argument("--data", help="folder of Fashion-MNIST IDX files")
    p.add_argument("--json", help="also write the rows to this JSON file")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("wargs", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--env", action="append", default=[], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        data, batch, hidden = args.wargs
        env = dict(e.split("=", 1) for e in args.env)
        return worker(args.worker, data, int(batch), int(hidden), args.threads, env)

    x, source = train_speed.load_data(args.data)
    load = os.getloadavg()
    print(f"data: {source}; numpy {np.__version__}; python {platform.python_version()}; "
          f"{os.cpu_count()} CPUs ({cpu_model()}); load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
          f"{args.rounds} timed rounds after a warm-up, each peer in its own process")
    rows = []
    with tempfile.TemporaryDirectory(prefix="peers_") as folder:
        data = os.path.join(folder, "x.npy")
        np.save(data, x)
        del x
        for spec in args.rows:
            batch, hidden = (int(v) for v in spec.split("/"))
            row = summarise(batch, hidden, run_row(args, data, batch, hidden, folder))
            print_row(row)
            rows.append(row)
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    for name, hello in rows[-1]["workers"].items() if rows else ():
        print(f"  {name}: {hello.removeprefix('ready ')}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"data": source, "numpy": np.__version__, "cpus": os.cpu_count(),
                       "cpu": cpu_model(), "rows": rows}, f, indent=2)
    return 0


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
