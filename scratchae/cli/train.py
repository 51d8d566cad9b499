"""`scratchae train NAME`: one of the article's autoencoders, saved with its history and figures.

    scratchae train sparse --epochs 5 --out runs/sparse
    scratchae train vanilla --use dense=my_dense.py
                                                your exercise's class in place of scratchae's,
                                                trained next to the library's (see cli/own.py
                                                and scratchae.exercises.plug)

Each run prints which data it uses and why, trains with a progress bar, and writes its
results into a folder (the model file, a JSON history and PNG figures).
Every argument is checked before any training starts: a bad one is a one-line error and
exit code 2, as are missing data, sizes too large for this machine's memory and an output
folder that cannot be written. A run that diverges ends in one line too. Whatever stops a
run early (Ctrl-C; SIGTERM from kill, timeout, docker stop, Slurm or systemd; SIGHUP from a
closed terminal; a divergence; an out-of-memory or any other error) saves the completed
epochs first and says so (a second signal waits for that save); a signal then exits with
128 + its number (130, 143, 129). The trained model and its history are written before the
figures, so a stop while drawing keeps them. A run owns its --out while it runs (a second
run into it is refused, naming the first) and records which files are its own in
scratchae-run.json (see cli/outfolder.py).
"""
from __future__ import annotations

import argparse
import math
import os
import sys

from . import UsageError
from .common import (add_common_options, build_model, check_common, check_memory, check_positive,
                     load_data, loss_series, make_out, model_inputs, monitor_summary, rescue_save,
                     run_command, run_text, save_figure, save_json,
                     table, train_one, train_outputs, train_page)
from .outfolder import check_outputs
from .own import OWN_PIECE_EPOCHS, run_train_own

MODELS = ("vanilla", "shallow", "denoising", "sparse", "tied", "contractive", "vae", "conv",
          "conv-denoising")

#: The Keras blog's convolutional autoencoders: (N, 28, 28, 1) images, fixed layers. The
#: denoising one is a model of its own (as `denoising` is for the dense layers) because the
#: blog gives it other layers (32 filters, a 7x7x32 code); --noise-factor sets its noise.
CONV_MODELS = ("conv", "conv-denoising")

#: The models --use can plug a learner's piece into (the article's).
ARTICLE_MODELS = MODELS[:4]

TRAIN_EPILOG = """\
models (the article's defaults):
  vanilla    784-128-32-128-784, 3 epochs
  shallow    784-32-784, 5 epochs
  denoising  the vanilla layers, input clip(x + 0.4 N(0,1), 0, 1), target x, 10 epochs
  sparse     the shallow layers with l1(1e-5) on the code, 20 epochs; with --kl RHO BETA,
             a sigmoid code with KL sparsity instead (the UFLDL notes' sparse autoencoder)
beyond the article:
  tied       784-32-784, the decoder the code layer's kernel transposed (DenseTranspose),
             5 epochs; --hidden-size N: 784-N-32-N-784, both decoders tied
  contractive  784-32 sigmoid-784, the code's Jacobian penalised, lam ||dh/dx||_F^2
             (--lam, default 0.003; Rifai et al. 2011), 20 epochs
  vae        the variational autoencoder of pytorch/examples: 784-400-(20 mean, 20 log-variance)
             -sample-400-784, loss the negative ELBO in nats per image, 10 epochs of batch 128;
             --code-size is the latent size (default 20, 2 draws the latent plane), --hidden-size
             (default 400), --beta B weighs the KL (a beta-VAE; default 1, the ELBO)
  conv       the Keras blog's convolutional autoencoder: 28x28x1, 3x3 Conv2D 16-8-8 with
             MaxPooling2D, code 4x4x8, then Conv2D and UpSampling2D back (4,385 parameters);
             Adam (the blog's adadelta is not in scratchae), batch 128, the blog's 50 epochs on
             the bundled digits unless --dataset says otherwise (about 1 minute of training on
             2 cores, 1.2 s an epoch; full MNIST, --dataset mnist, 15 times that an epoch)
  conv-denoising  the blog's convolutional denoising autoencoder: Conv2D 32-32 with pooling,
             code 7x7x32, then back (28,353 parameters); input clip(x + 0.5 N(0,1), 0, 1)
             (--noise-factor), target x; batch 128, 15 epochs on the bundled digits (about
             1 minute of training on 2 cores, 3.5 s an epoch)

examples:
  scratchae train vanilla
  scratchae train denoising --noise-factor 0.5 --epochs 5 --out runs/denoise
  scratchae train sparse --l1 0 --dataset mnist-5k     the "standard" sparse comparison
  scratchae train sparse --kl 0.05 0.03                 sigmoid code, KL sparsity, target 0.05
  scratchae train shallow --code-size 64 --seed 3 --verbose 2
  scratchae train tied --dataset mnist-5k
  scratchae train contractive --lam 0.01 --epochs 10
  scratchae train vae --code-size 2 --hidden-size 512 --epochs 50     Keras's MLP VAE
  scratchae train vae --beta 8                          posterior collapse, unit by unit
  scratchae train conv                                  the Keras blog's conv autoencoder
  scratchae train conv-denoising --noise-factor 0.3 --dataset mnist

writes into --out: NAME.npz (load with scratchae.models.load_model), NAME-history.json,
NAME-reconstructions.png (denoising, conv-denoising: NAME.png), NAME-loss.png, NAME-weights.png,
NAME-codes.png, NAME-code-space.png, NAME-interpolation.png, index.html (the run on one
page); vae also NAME-samples.png (from the prior), NAME-kl-units.png (the KL of each latent
unit) and, with --code-size 2, NAME-latent.png (the test codes) and NAME-manifold.png (the
decoder over the latent plane); conv and conv-denoising NAME-filters.png (the first layer's
3x3 filters) and NAME-feature-maps.png (every layer's output on one test digit) in place of
NAME-weights.png; with the monitor (on unless --monitor 0): NAME-gradients.png, NAME-update-ratios.png,
NAME-unit-health.png, NAME-activations.png, NAME-monitor.json; and scratchae-run.json, which
files this run wrote (files of earlier runs in --out are listed apart, never removed). While
it runs, --out/.scratchae-lock names it: a second run into the same --out is refused.

train with your own piece (after scratchae gradcheck --exercise PIECE FILE passes):
  scratchae train vanilla --use dense=my_dense.py
  scratchae train sparse --use l1=my_l1.py --use relu=my_relu.py
  scratchae train vanilla --use dense=broken:dense-zero-dx     a shipped wrong piece
PIECE is dense, relu, sigmoid, bce or l1 (l1: a model with an L1 penalty, e.g. sparse);
the article's four models only (no piece plugs into conv or conv-denoising).
The model trains twice from the same seed and weights, with your pieces and with
scratchae's, on mnist-5k for 2 epochs unless --dataset/--epochs say otherwise; both losses
are printed side by side with a verdict (exit code 1 when yours does not train like
scratchae's, or trains like it but fails its gradient check) and written to
NAME-history.json (loss, scratchae_loss). Also writes NAME.npz, NAME-reconstructions.png
(yours and scratchae's) and NAME-loss.png.
"""

#: How many test images `train` maps with t-SNE by default: the article's first 1,000, about
#: 12 s for the two maps (codes and pixels) on 2 cores, a few percent of a default run.
TSNE_IMAGES = 1000
#: The most `--tsne` accepts: 5,000 images take about five minutes per map.
TSNE_MOST = 5000


def add_commands(sub) -> None:
    """Add `train` to the `scratchae` command."""

    train = sub.add_parser(
        "train", help="train one autoencoder and save it with its history and figures",
        description="Train one of the article's autoencoders; save the model, its training "
                    "history (JSON) and its figures.",
        epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("model", choices=MODELS, metavar="MODEL", help="one of: " + ", ".join(MODELS))
    add_common_options(train, "scratchae-train", "; mnist-5k with --use")
    train.add_argument("--epochs", type=int, default=None, metavar="N",
                       help="epochs (default: the recipe's: the article's 3/5/10/20; tied 5, "
                            "contractive 20, vae 10, conv 50, conv-denoising 15)")
    train.add_argument("--hidden-size", type=int, default=None, metavar="N",
                       help="vanilla/denoising: units of the two hidden layers (default: 128); "
                            "tied: add two hidden layers of N units (default: none); vae: "
                            "(default: 400)")
    train.add_argument("--code-size", type=int, default=None, metavar="N",
                       help="units of the code layer (default: 32); vae: the latent size (default: 20)")
    train.add_argument("--l1", type=float, default=None, metavar="F",
                       help="L1 activity penalty on the code, >= 0 (default: 1e-5 for sparse, else 0)")
    train.add_argument("--kl", type=float, nargs=2, default=None, metavar=("RHO", "BETA"),
                       help="sparse: KL-divergence sparsity instead of L1, target mean activation "
                            "RHO in (0, 1) and weight BETA >= 0 (e.g. 0.05 0.03); the code layer "
                            "becomes sigmoid (KL needs activations in [0, 1])")
    train.add_argument("--lam", type=float, default=None, metavar="F",
                       help="contractive: weight of the penalty lam * mean ||dh/dx||_F^2, >= 0 "
                            "(default: 0.003)")
    train.add_argument("--beta", type=float, default=None, metavar="B",
                       help="vae: the weight of the KL term, >= 0 (default: 1, the ELBO; more: "
                            "a beta-VAE)")
    train.add_argument("--noise-factor", type=float, default=None, metavar="F",
                       help="denoising, conv-denoising: noise standard deviation, in [0, 1] "
                            "(default: 0.4, the article's; conv-denoising 0.5, the Keras blog's)")
    train.add_argument("--tsne", type=int, default=TSNE_IMAGES, metavar="N",
                       help="map the first N test images to 2-D with t-SNE and PCA, from their "
                            "codes and from their pixels, with each map's 1-NN accuracy (NAME-maps.png; "
                            f"t-SNE is O(N^2): about 12 s for 1,000 on 2 cores); 0 turns it off "
                            f"(default: {TSNE_IMAGES})")
    train.add_argument("--use", action="append", default=None, metavar="PIECE=FILE",
                       help="train with your exercise's class for PIECE (dense, relu, sigmoid, bce, "
                            "l1) from FILE, next to scratchae's own; PIECE=broken:NAME for a shipped "
                            "wrong piece (scratchae gradcheck --list); repeatable")
    train.set_defaults(run=run_train)

def _check_train(args: argparse.Namespace) -> dict:
    """The resolved settings of `train`, after every check (article defaults filled in)."""
    from ..autoencoders import RECIPES

    recipe = RECIPES[args.model]
    if args.batch_size is None:
        args.batch_size = recipe.get("batch_size", 32)
    conv = args.model in CONV_MODELS
    if args.dataset is None and "dataset" in recipe:        # conv: the bundled digits
        args.dataset = recipe["dataset"]
    check_common(args)
    check_positive("--code-size", args.code_size)
    check_positive("--hidden-size", args.hidden_size)
    if conv and (args.code_size is not None or args.hidden_size is not None):
        raise UsageError(f"--code-size and --hidden-size apply to the dense models; {args.model} has "
                         "the Keras blog's fixed layers")
    if not 0 <= args.tsne <= TSNE_MOST or 0 < args.tsne < 4:
        raise UsageError(f"--tsne must be 0 (no map) or a number of test images from 4 to "
                         f"{TSNE_MOST:,} (t-SNE is O(N^2)), got {args.tsne}")
    if args.code_size is None and not conv:
        args.code_size = recipe.get("latent_dim", 32)
    deep = args.model in ("vanilla", "denoising")
    if args.beta is not None:
        if args.model != "vae":
            raise UsageError(f"--beta applies to vae only, not {args.model}")
        if not math.isfinite(args.beta) or args.beta < 0:
            raise UsageError(f"--beta must be a finite number >= 0, got {args.beta}")
    if args.hidden_size is not None and not deep and args.model not in ("tied", "vae"):
        raise UsageError(f"--hidden-size applies to vanilla and denoising (and tied, vae); {args.model} "
                         "has no hidden layer")
    if args.l1 is not None and (not math.isfinite(args.l1) or args.l1 < 0):
        raise UsageError(f"--l1 must be a finite number >= 0, got {args.l1}")
    if args.l1 and args.model not in ARTICLE_MODELS:
        raise UsageError(f"--l1 applies to the article's models ({', '.join(ARTICLE_MODELS)}), "
                         f"not {args.model}")
    if args.lam is not None:
        if args.model != "contractive":
            raise UsageError(f"--lam applies to contractive only, not {args.model}")
        if not math.isfinite(args.lam) or args.lam < 0:
            raise UsageError(f"--lam must be a finite number >= 0, got {args.lam}")
    if args.use and args.model not in ARTICLE_MODELS:
        raise UsageError(f"--use plugs your pieces into the article's models ({', '.join(ARTICLE_MODELS)}), "
                         f"not {args.model}")
    if args.kl is not None:
        _check_kl(args)
    if args.noise_factor is not None:
        if args.model not in ("denoising", "conv-denoising"):
            raise UsageError(f"--noise-factor applies to denoising and conv-denoising only, not {args.model}")
        if not (0.0 <= args.noise_factor <= 1.0):
            raise UsageError(f"--noise-factor must be in [0, 1], got {args.noise_factor}")
    hidden = (args.hidden_size or 128) if deep else args.hidden_size if args.model == "tied" else \
        (args.hidden_size or recipe["hidden"]) if args.model == "vae" else None
    if not conv:            # the conv models have no size option (and need a few MB a batch)
        check_memory(args.model, hidden, args.code_size, args.batch_size)
    default_epochs = OWN_PIECE_EPOCHS if args.use else recipe["epochs"]
    return {
        "model": args.model,
        "epochs": args.epochs if args.epochs is not None else default_epochs,
        "batch_size": args.batch_size,
        "hidden_size": hidden,
        "code_size": args.code_size,
        "l1": args.l1 if args.l1 is not None else 0.0 if args.kl else recipe.get("l1", 0.0),
        "kl": list(args.kl) if args.kl is not None else None,
        "lam": (args.lam if args.lam is not None else recipe["lam"]) if args.model == "contractive" else None,
        "noise_factor": (args.noise_factor if args.noise_factor is not None
                         else recipe["noise_factor"]) if "noise_factor" in recipe else None,
        "beta": (args.beta if args.beta is not None else recipe["beta"]) if args.model == "vae" else None,
        "seed": args.seed,
        "tsne": args.tsne,
        "dataset": args.dataset,
        "out": args.out,
        "verbose": args.verbose,
        "use": _parse_uses(args.use or []),
    }

def _parse_uses(values: list[str]) -> dict[str, str]:
    """{piece: FILE or 'broken:NAME'} from the --use values, each piece at most once."""
    from ..exercises import plug

    uses: dict[str, str] = {}
    for text in values:
        try:
            piece, where = plug.parse_use(text)
        except plug.PlugError as exc:
            raise UsageError(str(exc)) from None
        if piece in uses:
            raise UsageError(f"--use {piece} given twice ({uses[piece]} and {where}); one class per piece")
        uses[piece] = where
    return uses

def _load_sources(settings: dict) -> list:
    """The plug.Source of every --use, each file imported and its class built once: any
    problem is a one-line UsageError before data is loaded."""
    from ..exercises import plug

    uses = settings["use"]
    if "l1" in uses and not settings["l1"]:
        raise UsageError(f"--use l1 needs a model with an L1 penalty on its code: train sparse "
                         f"(or give --l1 F > 0); {settings['model']} has none")
    try:
        return [plug.load_source(piece, where) for piece, where in uses.items()]
    except plug.PlugError as exc:
        raise UsageError(str(exc)) from None



def run_train(args: argparse.Namespace) -> int:
    return run_command(f"train {args.model}", lambda: _run_train(args))


def _run_train(args: argparse.Namespace) -> int:
    from .. import __version__
    from ..training import Interrupted, NonFiniteLossError, held_interrupts

    settings = _check_train(args)
    name = settings["model"]
    check_outputs(args.out, _train_outputs(name), args.dataset)
    if settings["use"]:
        return run_train_own(args, settings, _load_sources(settings))
    data = load_data(args.dataset)
    make_out(args.out, _train_outputs(name))
    ae = build_model(settings, data.x_train)
    if settings["kl"]:
        _kl_code(ae, *settings["kl"])
    x, xt = data.x_train, data.x_test
    x_in, xt_in = model_inputs(settings, data)
    fit_data = (x_in, x, xt_in, xt)
    if name in CONV_MODELS:
        fit_data = _images(name, data, fit_data)
    if args.verbose:
        ae.model.summary()
    out = args.out
    model_path = os.path.join(out, f"{name}.npz")
    dataset_info = {"name": data.name, "description": data.description, "train": len(x), "test": len(xt)}
    stopped = {"model": name, "dataset": dataset_info, "arguments": settings,
               "scratchae_version": __version__}
    try:
        r = train_one(name, ae, *fit_data, settings["epochs"], args, monitor_every=args.monitor)
        if name == "contractive":
            from ..contractive import frobenius_norms

            r["test_jacobian_norm"] = float(frobenius_norms(ae.model.get_layer("code"), xt_in).mean())
        if name == "vae":
            r["test_kl_per_unit"] = [float(v) for v in ae.kl_per_unit(xt_in)]
        history_path = os.path.join(out, f"{name}-history.json")
        # the trained model and its history first, whole (a signal meanwhile waits): a stop while
        # the figures are drawn keeps them; one before this save, the rescue below
        with held_interrupts(raise_after=False) as signals:
            ae.model.save(model_path)
            save_json(_history(name, r, dataset_info, settings), history_path)
    except KeyboardInterrupt as exc:
        # Nothing lost: fit put the model back to the end of its last completed epoch; save
        # exactly that (a second signal waits for the save), then exit 130 (143, 129).
        saved = _save_completed(ae.model, model_path, stopped | {
            "interrupted": True, "signal": _signal_name(exc)})
        print(f"scratchae: {saved or 'no epoch completed, nothing saved'}", file=sys.stderr)
        raise
    except NonFiniteLossError as exc:
        saved = _save_completed(ae.model, model_path, stopped | {"interrupted": False,
                                                                 "diverged": str(exc)})
        hint = f"; a smaller --l1 (now {settings['l1']:g}) may help" if settings["l1"] else ""
        raise UsageError(f"training diverged: {str(exc).split(';')[0]}; "
                         f"{saved or 'no epoch completed, nothing saved'}{hint}") from None
    except Exception as exc:
        # out of memory, a full disk, a bug: the completed epochs are kept all the same
        saved = _save_completed(ae.model, model_path, stopped | {
            "interrupted": False, "error": f"{type(exc).__name__}: {exc}"})
        print(f"scratchae: training stopped by {type(exc).__name__}; "
              f"{saved or 'no epoch completed, nothing saved'}", file=sys.stderr)
        raise

    try:
        if signals:
            raise Interrupted(signals[-1])
        print()
        print(table([r]))
        if r["monitor"] is not None and r["monitor"].steps:
            print(monitor_summary(r["monitor"]))
        if settings["kl"]:
            print(_code_units(r["codes"], *settings["kl"]))
        if name == "contractive":
            print(_jacobian_line(r, settings["lam"]))
        if name == "vae":
            print(_elbo_line(r, settings["beta"]))
        written = _figures(name, r, data, settings, args, xt, xt_in)
    except BaseException as exc:
        why = (f"stopped by {_signal_name(exc)}" if isinstance(exc, KeyboardInterrupt)
               else type(exc).__name__)
        print(f"\nscratchae: {model_path} and {os.path.basename(history_path)} are saved (training had "
              f"finished); not every figure was written ({why})", file=sys.stderr)
        raise
    written = [model_path, history_path] + written
    print(f"\nWrote {len(written)} files to {out}{os.sep}:")
    for path in written:
        print(f"  {os.path.basename(path)}")
    return 0


def _history(name: str, r: dict, dataset_info: dict, settings: dict) -> dict:
    """What NAME-history.json holds after a run that finished."""
    from .. import __version__

    extra = {k: r[k] for k in ("test_jacobian_norm", "test_kl_per_unit") if k in r}
    return extra | {
        "model": name,
        "loss": r["loss"],
        "reconstruction_loss": r["reconstruction_loss"],
        "history": r["history"].with_parts(),        # Keras's keys and History.parts
        "epochs": r["epochs"],
        "test_loss": r["test_loss"],
        "test_reconstruction_loss": r["test_reconstruction_loss"],
        "test": r["test"],
        "mean_code": r["mean_code"],
        "seconds": r["seconds"],
        "interrupted": False,
        "dataset": dataset_info,
        "arguments": settings,
        "scratchae_version": __version__,
    }


def _figures(name: str, r: dict, data, settings: dict, args, xt, xt_in) -> list[str]:
    """The figures and the page of a trained model; their paths."""
    from .. import figures_vae, plotting

    out = args.out
    run = run_text(name, data, r["epochs"], args)
    conv = name in CONV_MODELS
    # a conv model's own figures from its (N, 28, 28, 1) images; the others, shared with the
    # dense models, from its flat views (784 pixels in and out, a flat code)
    extra = _conv_figures(name, r, xt_in, run, out) if conv else []
    if conv:
        r = r | {"ae": _flat_views(r["ae"])}
    ae = r["ae"]
    n = min(5, len(xt))
    outputs = ae.model.predict(xt_in)
    if settings["noise_factor"] is not None:
        first = plotting.denoising(xt, xt_in, outputs, n=n, run=run)
        first_path = os.path.join(out, f"{name}.png")
    else:
        first = plotting.reconstructions(xt, outputs, n=n, run=run)
        first_path = os.path.join(out, f"{name}-reconstructions.png")
    loss_figure = (figures_vae.elbo_parts(r["history"], run=run) if name == "vae" else
                   plotting.loss_curves(loss_series(name, r), run=run, title="Training loss per epoch",
                                        ylabel="training loss (nats per pixel)"))
    written = [
        save_figure(first, first_path),
        save_figure(loss_figure, os.path.join(out, f"{name}-loss.png")),
    ] + ([] if conv else [
        save_figure(plotting.first_layer_weights(ae.model.get_weights()[0], n=min(36, ae.model.get_weights()[0].shape[1]),
                                                 run=run), os.path.join(out, f"{name}-weights.png"))]) + [
        save_figure(plotting.code_distributions({name: r["codes"]}, run=run), os.path.join(out, f"{name}-codes.png")),
    ]
    extra += _vae_figures(r, data, settings, run, out) if name == "vae" else []
    written += [os.path.join(out, f) for f, _, _ in extra]
    return written + train_page(name, r, data, settings, args, first_path, extra)


def _vae_figures(r: dict, data, settings: dict, run: str, out: str) -> list[tuple[str, str, str]]:
    """The VAE's own figures, written: (file, heading, caption) of each, for its page."""
    from .. import figures_vae

    ae, name = r["ae"], "vae"
    kl = r["test_kl_per_unit"]
    used = figures_vae.units_in_use(kl)
    figures = [
        (f"{name}-samples.png", "Samples from the prior",
         figures_vae.prior_samples(ae.generate(100, seed=settings["seed"]), run=run),
         "100 images decoded from codes drawn from the prior N(0, I), not from any test image: "
         "the VAE as a generative model. Blurred strokes are the mean of a Bernoulli decoder."),
        (f"{name}-kl-units.png", "The KL of each latent unit",
         figures_vae.kl_units(kl, run=run),
         f"Each latent unit's KL from the prior, averaged over the test images: {used} of "
         f"{len(kl)} carry more than {figures_vae.USED_UNIT_NATS:g} nats; the others are the prior "
         "whatever the image (posterior collapse when all are: try --beta 8)."),
    ]
    if len(kl) == 2:
        n = 15
        grid = ae.decoder.predict(figures_vae.manifold_grid(n))
        figures += [
            (f"{name}-latent.png", "The latent plane",
             figures_vae.latent_scatter(r["codes"], data.y_test, run=run),
             "Each test image at its 2-D code z_mean, coloured by its digit (the model never saw "
             "the labels)."),
            (f"{name}-manifold.png", "The decoder over the latent plane",
             figures_vae.latent_manifold(grid, n, run=run),
             f"The images the decoder draws from a {n} x {n} grid of codes from -3 to 3 on each "
             "axis: compare with the plane above to see which digit lives where."),
        ]
    for file, _, fig, _ in figures:
        save_figure(fig, os.path.join(out, file))
    return [(file, heading, caption) for file, heading, _, caption in figures]

def _train_outputs(name: str) -> tuple[str, ...]:
    """The files `train NAME` writes into --out."""
    first = f"{name}.png" if name in ("denoising", "conv-denoising") else f"{name}-reconstructions.png"
    vae = (f"{name}-samples.png", f"{name}-kl-units.png", f"{name}-latent.png",
           f"{name}-manifold.png") if name == "vae" else ()
    weights = (f"{name}-filters.png", f"{name}-feature-maps.png") if name in CONV_MODELS else \
        (f"{name}-weights.png",)
    return (f"{name}.npz", f"{name}-history.json", first, f"{name}-loss.png") + weights + \
        (f"{name}-codes.png",) + vae + train_outputs(name, monitor=True)


# -- the convolutional models ------------------------------------------------------------------
def _images(name: str, data, arrays: tuple) -> tuple:
    """The flat (N, 784) arrays as the (N, 28, 28, 1) images a conv model takes; a UsageError
    for data of another size (an IDX folder of other images)."""
    if data.x_train.shape[1] != 28 * 28:
        raise UsageError(f"{name} takes 28x28 images (the Keras blog's layers), but {data.name} has "
                         f"{data.x_train.shape[1]} pixels per image")
    return tuple(a.reshape(-1, 28, 28, 1) for a in arrays)


def _flat_views(ae):
    """The conv autoencoder `ae` seen as the dense ones are, for the figures they share:
    a model and an encoder taking rows of 784 pixels, a decoder taking flat codes, the model
    and the decoder giving rows of 784. The same layers (Reshape and Flatten around them),
    so the same weights: nothing is copied or trained."""
    from ..autoencoders import Autoencoder
    from ..layers import Flatten, Input, Reshape
    from ..models import Model

    def view(inner, width: int, shape: tuple, label: str):
        x = Input(shape=(width,))
        h = Reshape(shape)(x)
        for layer in inner.chain:
            h = layer(h)
        return Model(x, Flatten()(h), name=f"{inner.name}_{label}")

    code_shape = tuple(ae.decoder.layers[0].input_shape)
    return Autoencoder(view(ae.model, 784, (28, 28, 1), "flat"),
                       view(ae.encoder, 784, (28, 28, 1), "flat"),
                       view(ae.decoder, math.prod(code_shape), code_shape, "flat"))


def _conv_figures(name: str, r: dict, xt_in, run: str, out: str) -> list[tuple[str, str, str]]:
    """A conv model's own figures, written: its first layer's filters and the feature maps of
    the first test image; (file, heading, caption) of each, for its page."""
    from .. import figures_conv

    model = r["ae"].model
    first = model.chain[0]
    kernel = first.params["kernel"]
    kh, kw, _, f = kernel.shape
    noisy = " (its noisy version, the model's input)" if name == "conv-denoising" else ""
    figures = [
        (f"{name}-filters.png", "First-layer filters",
         figures_conv.filters(kernel, run=run,
                              title=f"First-layer filters ({first.name}): each {kh}x{kw} kernel as an image"),
         f"The {f} filters of the first Conv2D, each {kh}x{kw} weights on one colour scale centred "
         "on 0 (red positive, blue negative, each weight written on its square). A filter's "
         f"output at a pixel is the sum of its weights times the {kh}x{kw} patch of the digit "
         "there, plus its bias, through a ReLU (a cross-correlation, as Keras's)."),
        (f"{name}-feature-maps.png", "Feature maps",
         figures_conv.feature_maps(figures_conv.layer_outputs(model, xt_in[0]), run=run),
         f"The first test digit{noisy} and every layer's output on it, one small image per "
         "channel, each layer on its own colour scale from its smallest value (dark) to its "
         "largest (light), written beside its name; a channel dark everywhere holds the "
         "layer's smallest value throughout."),
    ]
    for file, _, fig, _ in figures:
        save_figure(fig, os.path.join(out, file))
    return [(file, heading, caption) for file, heading, _, caption in figures]

def _save_completed(model, model_path: str, info: dict) -> str:
    """Save the model and a history of its completed epochs (what fit left it at), with every
    stop signal held until both files are written; '' when no epoch completed."""
    history = os.path.join(os.path.dirname(model_path), os.path.basename(model_path)[:-4] + "-history.json")
    return rescue_save(model, model_path, history, info)


def _signal_name(exc: BaseException) -> str:
    import signal

    return signal.Signals(getattr(exc, "signum", signal.SIGINT)).name


def _check_kl(args: argparse.Namespace) -> None:
    """--kl RHO BETA: the sparse recipe only, instead of its L1 penalty, not with --use."""
    rho, beta = args.kl
    if args.model != "sparse":
        raise UsageError(f"--kl applies to the sparse recipe only, not {args.model}")
    if args.l1:
        raise UsageError("--kl replaces the sparse recipe's L1 penalty: give --kl or --l1, not both")
    if args.use:
        raise UsageError("--kl cannot be combined with --use (the exercises plug into the article's models)")
    if not (math.isfinite(rho) and 0.0 < rho < 1.0):
        raise UsageError(f"--kl RHO must be a target mean activation in (0, 1), got {rho}")
    if not (math.isfinite(beta) and beta >= 0.0):
        raise UsageError(f"--kl BETA must be a finite number >= 0, got {beta}")

def _kl_code(ae, rho: float, beta: float) -> None:
    """The shallow model's code layer made sigmoid, with KL sparsity as its penalty (the same
    seed, so the same initial weights as the standard and L1 runs)."""
    from ..activations import Sigmoid
    from ..regularizers import KLSparsity

    code = ae.encoder.layers[-1]
    code.activation, code.activity_regularizer = Sigmoid(), KLSparsity(rho, beta)

def _jacobian_line(r: dict, lam: float) -> str:
    """One line on a contractive run: the code's Jacobian norm on the test images, the penalty."""
    penalty = r["history"].parts["code_contractive"][-1]
    return (f"code Jacobian: mean ||dh/dx||_F^2 {r['test_jacobian_norm']:.4g} on the test images; "
            f"training penalty lam * mean ||dh/dx||_F^2 = {penalty:.4g} (lam={lam:g}) in the last epoch")

def _elbo_line(r: dict, beta: float) -> str:
    """One line on a VAE run: the test negative ELBO and its parts, and the units in use."""
    from ..figures_vae import USED_UNIT_NATS, units_in_use

    t, kl = r["test"], r["test_kl_per_unit"]
    what = "negative ELBO" if beta == 1 else f"loss (reconstruction + {beta:g} KL)"
    return (f"test {what}: {t['loss']:.2f} nats per image (reconstruction {t['reconstruction_loss']:.2f}, "
            f"KL {sum(kl):.2f}); {units_in_use(kl)} of {len(kl)} latent units carry more than "
            f"{USED_UNIT_NATS:g} nats")

def _code_units(codes, rho: float, beta: float) -> str:
    """One line on the code units of a KL run: each unit's mean against the target."""
    per_unit = codes.mean(axis=0)
    return (f"code units (sigmoid, KL rho={rho:g} beta={beta:g}): unit means {per_unit.min():.3f} "
            f"to {per_unit.max():.3f} (target {rho:g}), {float((codes < 0.05).mean()):.0%} of code "
            f"values below 0.05")
