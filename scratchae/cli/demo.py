"""`scratchae demo`: the article, end to end.

    scratchae demo                              vanilla, denoising, sparse standard and
                                                regularized with the article's recipe; a
                                                summary table and the figures

It prints which data it uses and why, trains with a progress bar, and writes into a folder its
figures, the four models, a JSON summary and `index.html`, one page that shows the run. The
vanilla model trains with a `Monitor` (every 25 steps, `--monitor K` to change, 0 to turn it
off), whose figures show its gradients, update ratios and dead units. Every argument is
checked before any training starts.

Each model is saved as soon as it is trained. Whatever stops the demo early (Ctrl-C, SIGTERM,
SIGHUP, an out-of-memory or any other error) also saves the completed epochs of the model in
training and a summary.json of what was done (`"stopped"` says why), says so, and a signal
exits with 128 + its number (130, 143, 129). The demo owns its --out while it runs and
records its files in scratchae-run.json (see cli/outfolder.py).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

from .common import (TABLE_NOTE, add_common_options, check_common, inside_figures, load_data,
                     make_out, monitor_summary, rescue_save, run_command, run_text, save_figure,
                     save_json, table, table_columns, train_one)
from .outfolder import check_outputs

def add_commands(sub) -> None:
    """Add `demo` to the `scratchae` command."""
    demo = sub.add_parser(
        "demo", help="train the article's autoencoders and draw its figures",
        description="The article, end to end: train the vanilla, denoising, and both "
                    "sparse autoencoders with its recipe, print a summary table and write the "
                    "figures.",
        epilog=DEMO_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(demo, "scratchae-demo")
    demo.add_argument("--epochs", type=int, default=None, metavar="N",
                      help="train every model N epochs instead of the article's 3/10/20/20")
    demo.set_defaults(run=run_demo)


DEMO_EPILOG = """\
examples:
  scratchae demo                                  the article's recipe (3/10/20/20 epochs)
  scratchae demo --dataset mnist-5k --out figs    bundled data, figures into ./figs/
  scratchae demo --epochs 1 --verbose 0           every model one epoch, quietly
  scratchae demo --monitor 5                      watch the vanilla model every 5 steps

writes into --out: index.html (open it: the whole run on one page), the figures
(vanilla-reconstructions.png, vanilla-weights.png, vanilla-code-space.png,
vanilla-interpolation.png, vanilla-gradients.png, vanilla-update-ratios.png,
vanilla-unit-health.png, vanilla-activations.png, denoising.png,
sparse-code-distributions.png, sparse-code-units.png, sparse-losses.png, loss-curves.png),
the models (vanilla.npz, denoising.npz, sparse-standard.npz, sparse-l1.npz),
vanilla-monitor.json and summary.json (every model's history, losses split), and
scratchae-run.json (which files this run wrote; files of earlier runs are listed apart,
never removed). While it runs, --out/.scratchae-lock names it: a second run into the same
--out is refused.
"""

#: The demo's models: label key -> model file name.
MODEL_FILES = {"vanilla": "vanilla.npz", "denoising": "denoising.npz",
               "standard": "sparse-standard.npz", "regularized": "sparse-l1.npz"}

FIGURES = ("vanilla-reconstructions.png", "vanilla-weights.png", "vanilla-code-space.png",
           "vanilla-interpolation.png", "vanilla-gradients.png", "vanilla-update-ratios.png",
           "vanilla-unit-health.png", "vanilla-activations.png", "vanilla-monitor.json",
           "denoising.png", "sparse-code-distributions.png", "sparse-code-units.png",
           "sparse-losses.png", "loss-curves.png")


OUTPUTS = FIGURES + tuple(MODEL_FILES.values()) + ("summary.json", "index.html")


def _sparsity_caption(standard, regularized) -> str:
    """What the L1 penalty did to the code, from the two models' test codes: mean value and
    share of exact zeros, each model's."""
    import numpy as np

    s, r = np.asarray(standard), np.asarray(regularized)
    return (f"Here the L1 model's code averages {r.mean():.2f} (the standard's {s.mean():.2f}) and "
            f"is exactly 0 for {np.mean(r == 0):.0%} of its values (the standard's "
            f"{np.mean(s == 0):.0%}).")


def run_demo(args: argparse.Namespace) -> int:
    return run_command("demo", lambda: _run_demo(args))


def _run_demo(args: argparse.Namespace) -> int:
    from .. import autoencoders, plotting
    from ..datasets import add_gaussian_noise
    from ..figures_code import unit_sparsity
    from .captions import compare_final

    check_common(args)
    check_outputs(args.out, OUTPUTS, args.dataset)
    data = load_data(args.dataset)
    make_out(args.out, OUTPUTS)
    recipe = autoencoders.ARTICLE
    epochs = {k: args.epochs or recipe[k]["epochs"] for k in ("vanilla", "denoising", "sparse")}
    seed = args.seed
    x, xt = data.x_train, data.x_test
    noise = recipe["denoising"]["noise_factor"]
    x_noisy = add_gaussian_noise(x, noise, seed=seed)
    xt_noisy = add_gaussian_noise(xt, noise, seed=seed + 1)
    factor = recipe["sparse"]["l1"]

    started = time.perf_counter()
    plan = [  # (file key, label, model, inputs, test inputs, epochs, monitor)
        ("vanilla", "vanilla", lambda: autoencoders.vanilla(seed=seed), x, xt, epochs["vanilla"], args.monitor),
        ("denoising", f"denoising (noise {noise:g})", lambda: autoencoders.vanilla(seed=seed), x_noisy,
         xt_noisy, epochs["denoising"], 0),
        ("standard", "sparse standard", lambda: autoencoders.shallow(seed=seed), x, xt, epochs["sparse"], 0),
        ("regularized", f"sparse l1({factor:g})", lambda: autoencoders.sparse(l1=factor, seed=seed), x, xt,
         epochs["sparse"], 0),
    ]
    rows = _train_all(plan, x, xt, args, data)
    total = time.perf_counter() - started
    vanilla, denoise, standard, regularized = rows

    print(f"\nSummary ({data.description}):\n")
    print(table(rows))
    notes = [TABLE_NOTE,
             "test loss is `evaluate` on the test images (denoising: noisy test inputs against "
             "clean targets). mean code: the encoder's output averaged over every test image and "
             "code unit."]
    print("\n" + _wrap(" ".join(notes)))
    ratio = standard["mean_code"] / regularized["mean_code"] if regularized["mean_code"] > 0 else math.inf
    sparse_line = (f"Sparse effect: the regularized code averages {regularized['mean_code']:.2f} against "
                   f"{standard['mean_code']:.2f} without the penalty, {ratio:.1f}x lower "
                   f"(the article, on full MNIST: 0.78 vs 6.60).")
    print(f"\n{sparse_line}")
    if vanilla["monitor"] is not None:
        print(monitor_summary(vanilla["monitor"]))

    out = args.out
    n = min(5, len(xt))
    run = lambda r: run_text(r["label"], data, r["epochs"], args)
    sparse_run = f"shallow 784-32-784 with and without l1({factor:g}); " + run(standard).split("; ", 1)[1]
    all_run = "the four models; " + run(vanilla).split("; ", 1)[1].split(";")[0]
    figures = [
        ("vanilla-reconstructions.png", "Reconstructions",
         plotting.reconstructions(xt, vanilla["ae"].model.predict(xt), n=n, run=run(vanilla)),
         "Top: test digits the model never saw; bottom: its reconstructions from a 32-number "
         "code. Look at what is lost: thin strokes and unusual shapes blur."),
        ("vanilla-weights.png", "First-layer weights",
         plotting.first_layer_weights(vanilla["ae"].model.get_weights()[0], run=run(vanilla)),
         "The 784 weights into each of the first 36 hidden units, as an image (red positive, "
         "blue negative, one colour scale): stroke-like blobs are learned features; pure "
         "noise is a unit that has not learned yet."),
    ]
    figures += [(name, heading, None, caption) for name, heading, caption
                in inside_figures("vanilla", vanilla, data, run(vanilla), out)]
    figures += [
        ("denoising.png", "Denoising",
         plotting.denoising(xt, xt_noisy, denoise["ae"].model.predict(xt_noisy), n=n, run=run(denoise)),
         f"Clean test digits, the same with Gaussian noise (factor {noise:g}), and the "
         "autoencoder's output from the noisy ones: the noise is gone, and so is some detail."),
        ("sparse-code-distributions.png", "Code values, standard and L1",
         plotting.code_distributions({"standard": standard["codes"], "regularized": regularized["codes"]},
                                     run=sparse_run),
         "Every code value of the two shallow models on the test images (log density): the "
         "L1 model's values crowd towards 0."),
        ("sparse-code-units.png", "Sparsity unit by unit",
         unit_sparsity({"standard": standard["codes"], f"l1({factor:g})": regularized["codes"]},
                       run=sparse_run),
         "For each of the 32 code units: how often it is exactly 0 (top) and its mean "
         "(bottom). " + _sparsity_caption(standard["codes"], regularized["codes"])),
        ("sparse-losses.png", "Reconstruction, standard against L1",
         plotting.compare_losses({"standard": standard["history"], "regularized": regularized["history"]},
                                 key="reconstruction_loss", run=sparse_run),
         "The binary cross-entropy alone (the L1 penalty left out, so both measure the same "
         "thing) per epoch. " + compare_final(
             {"L1 model's": regularized["history"].parts["reconstruction_loss"],
              "standard model's": standard["history"].parts["reconstruction_loss"]},
             "L1 model's", "standard model's")),
        ("loss-curves.png", "Every model's reconstruction loss",
         plotting.loss_curves({r["label"]: r["history"] for r in rows}, key="reconstruction_loss",
                              run=all_run),
         "The training reconstruction loss per epoch of the four models (penalty left out); the "
         "denoising model's is measured on noisy inputs against clean targets. " + compare_final(
             {"denoising": denoise["history"].parts["reconstruction_loss"],
              "vanilla": vanilla["history"].parts["reconstruction_loss"]}, "denoising", "vanilla")),
    ]
    for name, _, fig, _ in figures:
        if fig is not None:
            save_figure(fig, os.path.join(out, name))
    summary = {
        "dataset": {"name": data.name, "description": data.description,
                    "train": len(x), "test": len(xt)},
        "arguments": {k: v for k, v in vars(args).items() if k != "run"},
        "models": [{**{k: r[k] for k in ("label", "epochs", "loss", "reconstruction_loss", "test_loss",
                                         "test_reconstruction_loss", "mean_code", "seconds")},
                    "history": r["history"].with_parts(), "test": r["test"], "file": MODEL_FILES[key]}
                   for key, r in zip(MODEL_FILES, rows)],
        "sparse_ratio": ratio,
        "training_seconds": total,
    }
    save_json(summary, os.path.join(out, "summary.json"))
    page = _page(args, data, rows, figures, sparse_line, notes)
    written = [f for f in FIGURES + tuple(MODEL_FILES.values()) + ("summary.json", "index.html")
               if os.path.exists(os.path.join(out, f))]
    print(f"\nTraining took {total:.1f} s. Wrote {len(written)} files to {out}{os.sep} (the figures, "
          f"the models, summary.json); open {page} to see the run on one page.")
    return 0


def _train_all(plan: list, x, xt, args, data) -> list[dict]:
    """Train the models of `plan` in turn, each saved as soon as it is trained. If anything
    stops the demo (a signal, an error), the model in training is saved with its completed
    epochs (fit put it back at the end of the last one) and summary.json says what was done,
    before the exception goes on (the command's exit code)."""
    from ..training import held_interrupts

    rows: list[dict] = []
    current = None
    try:
        for key, label, build, x_in, xt_in, epochs, monitor in plan:
            current = (key, label, build())
            r = train_one(label, current[2], x_in, x, xt_in, xt, epochs, args, monitor_every=monitor)
            with held_interrupts():
                r["ae"].model.save(os.path.join(args.out, MODEL_FILES[key]))
            rows.append(r)
            current = None
        return rows
    except BaseException as exc:
        _rescue(exc, rows, current, args, data)
        raise


def _rescue(exc: BaseException, rows: list[dict], current, args, data) -> None:
    """summary.json of a demo stopped by `exc`: the models trained (already saved) and the
    completed epochs of the one in training (saved now); one line on stderr says what."""
    import signal

    from ..training import held_interrupts

    if isinstance(exc, KeyboardInterrupt):
        why = "stopped by " + signal.Signals(getattr(exc, "signum", signal.SIGINT)).name
    else:
        why = f"stopped by {type(exc).__name__}: {exc}"
    done = [{"label": r["label"], "epochs": r["epochs"], "loss": r["loss"], "file": MODEL_FILES[key],
             "history": r["history"].with_parts()} for key, r in zip(MODEL_FILES, rows)]
    info = {"stopped": why, "complete": False,
            "dataset": {"name": data.name, "description": data.description},
            "arguments": {k: v for k, v in vars(args).items() if k != "run"}, "models": done}
    summary = os.path.join(args.out, "summary.json")
    saved = ""
    if current is not None and rows and rows[-1]["ae"] is current[2]:
        current = None                           # trained and saved: stopped just after
    if current is not None:
        key, label, ae = current
        saved = rescue_save(ae.model, os.path.join(args.out, MODEL_FILES[key]), summary,
                            info | {"in_training": {"label": label, "file": MODEL_FILES[key]}})
    if not saved:
        with held_interrupts(raise_after=False):
            save_json(info, summary)
    said = [f"kept {', '.join(d['file'] for d in done)} (trained)"] if done else []
    if saved:
        said.append(saved)
    else:
        said.append((f"no epoch of {current[1]} completed; " if current else "")
                    + "summary.json says what was done")
    print(f"scratchae: the demo was {why.split(':')[0]}; {'; '.join(said)}", file=sys.stderr)


def _page(args, data, rows, figures, sparse_line: str, notes: list[str]) -> str:
    from .. import __version__
    from ..report_html import Page, write_page

    head, cells = table_columns(rows)
    monitor = rows[0]["monitor"]
    links = [(MODEL_FILES[key], f"the {r['label']} model (scratchae.models.load_model)")
             for key, r in zip(MODEL_FILES, rows)]
    links.append(("summary.json", "every model's history per epoch (loss, reconstruction_loss, "
                                  "penalties), test losses, the data and the arguments"))
    links.append(("scratchae-run.json", "this run's own files in the folder (size, SHA-256), "
                                        "how it ended, and the files of earlier runs it kept"))
    if monitor is not None and monitor.steps:
        links.append(("vanilla-monitor.json", "what the monitor recorded for the vanilla model"))
    page = Page(
        title="scratchae demo: the article's autoencoders",
        intro=["The four autoencoders of \"Applied Deep Learning, Part 3: Autoencoders\", trained "
               "with its recipe (Adam, binary cross-entropy) by scratchae " + __version__ + "."],
        settings=[("same as", "scratchae demo " + " ".join(_argv(args))),
                  ("epochs", ", ".join(f"{r['label']} {r['epochs']}" for r in rows)),
                  ("batch size", str(args.batch_size)), ("seed", str(args.seed)),
                  ("monitor", f"vanilla model, every {args.monitor} steps" if args.monitor else "off")],
        data=[("dataset", data.name), ("what", data.description),
              ("images", f"{len(data.x_train):,} training, {len(data.x_test):,} test, "
                         f"{data.x_train.shape[1]} pixels each")],
        table_head=head, table_rows=cells,
        table_notes=notes + [sparse_line] + ([monitor_summary(monitor)] if monitor is not None and monitor.steps else []),
        figures=[(name, heading, caption) for name, heading, _, caption in figures],
        links=links)
    return write_page(page, args.out)


def _argv(args) -> list[str]:
    return [f"--dataset {args.dataset}", f"--out {args.out}", f"--batch-size {args.batch_size}",
            f"--seed {args.seed}", f"--monitor {args.monitor}"] + (
           [f"--epochs {args.epochs}"] if args.epochs else [])


def _wrap(text: str, width: int = 96) -> str:
    import textwrap

    return textwrap.fill(text, width)
