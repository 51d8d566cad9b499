"""Every script in demos/ runs as `python demos/NAME.py OUT` and writes its figures, and is a
percent-format notebook (`# %%` code cells, `# %% [markdown]` text cells) that also runs cell
by cell as a Jupyter kernel would run it.

To keep the suite fast the scripts run with `Model.fit` capped at one epoch (a wrapper set up
before the script starts); everything else is the script as a learner runs it. The full
recipes' run times are measured by hand and reported in README.md.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

REPO = Path(__file__).resolve().parents[1]
DEMOS = REPO / "demos"

CAP_EPOCHS = """
import runpy, sys
from scratchae.models import Model
fit = Model.fit
def one_epoch(self, *args, **kwargs):
    kwargs["epochs"] = 1
    if len(args) > 3:
        args = args[:3] + (1,) + args[4:]
    return fit(self, *args, **kwargs)
Model.fit = one_epoch
"""
ONE_EPOCH = CAP_EPOCHS + """
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"""

EXPECTED = {
    "01_vanilla.py": ["vanilla-reconstructions.png", "vanilla-weights.png", "shallow-reconstructions.png"],
    "02_denoising.py": ["denoising.png"],
    "03_sparse.py": ["sparse-code-distributions.png", "sparse-losses.png"],
    "04_variational.py": ["vae-elbo.png", "vae-latent.png", "vae-manifold.png", "vae-samples.png"],
    "05_anomalies.py": ["anomalies-roc.png", "anomalies-extremes.png", "anomalies-pitfall.png"],
    "06_convolutional.py": ["conv-reconstructions.png", "conv-codes.png", "conv-filters.png",
                            "conv-feature-maps.png"],
    "article_listing.py": ["listing-vanilla.png", "listing-weights.png", "listing-shallow.png",
                           "listing-denoising.png", "listing-sparse-standard.png",
                           "listing-sparse-regularized.png", "listing-code-distributions.png",
                           "listing-losses.png"],
}


def test_every_demo_is_covered():
    assert sorted(p.name for p in DEMOS.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("script", [
    "01_vanilla.py", "02_denoising.py", "03_sparse.py", "04_variational.py", "05_anomalies.py",
    "06_convolutional.py", pytest.param("article_listing.py", marks=pytest.mark.slow),
])
def test_demo_runs_and_writes_its_figures(script, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", ONE_EPOCH, str(DEMOS / script), "out"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in EXPECTED[script]:
        path = tmp_path / "out" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert matplotlib.image.imread(path).std() > 0, f"{name} is blank"
    if script != "article_listing.py":
        assert "Data: bundled MNIST subset" in r.stdout


CELL = re.compile(r"^# %%( \[markdown\])?$", re.M)

# What a Jupyter kernel (or VS Code's) does with the file: no __file__, a command line of the
# kernel's own, ipykernel loaded; the code cells run one after the other in one namespace.
AS_NOTEBOOK = CAP_EPOCHS + """
import re, types
source = open(sys.argv[1]).read()
sys.modules["ipykernel"] = types.ModuleType("ipykernel")
sys.argv = ["ipykernel_launcher.py", "-f", "kernel-1.json"]
namespace = {"__name__": "__main__"}
parts = re.split(r"^# %%( \\[markdown\\])?$", source, flags=re.M)
for marker, cell in zip(parts[1::2], parts[2::2]):
    if not marker:
        exec(compile(cell, "cell", "exec"), namespace)
"""


def cells(text):
    """(kind, lines) of every cell of a percent-format file; nothing may precede the first."""
    parts = CELL.split(text)
    assert parts[0] == "", "the file must start with a cell marker"
    return [("markdown" if marker else "code", body.strip("\n").splitlines())
            for marker, body in zip(parts[1::2], parts[2::2])]


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_demo_is_a_percent_format_notebook(script):
    text = (DEMOS / script).read_text()
    bad = [m for m in re.findall(r"^#\s*%%.*$", text, re.M) if not CELL.match(m)]
    assert not bad, f"cell markers must be '# %%' or '# %% [markdown]': {bad}"
    found = cells(text)
    kinds = [kind for kind, _ in found]
    assert kinds[0] == "markdown" and found[0][1][0].startswith("# # ")     # a title
    assert kinds.count("markdown") >= 4 and kinds.count("code") >= 4
    for kind, lines in found:
        assert any(l.strip() for l in lines), "an empty cell"
        if kind == "markdown":
            assert all(l == "#" or l.startswith("# ") for l in lines), lines
    assert "../docs/backprop.md" in text           # the walk-through points to the derivations


def test_a_demo_runs_as_a_notebook(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", AS_NOTEBOOK, str(DEMOS / "03_sparse.py")],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in EXPECTED["03_sparse.py"]:
        assert (tmp_path / "demo-output" / name).read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo-output"]     # not "-f"
    assert "Mean code value: standard" in r.stdout


def test_listing_changes_only_what_its_docstring_says():
    """The listing keeps the article's Keras calls; scratchae appears only in the imports."""
    text = (DEMOS / "article_listing.py").read_text()
    body = text.split("# -- the data", 1)[1]
    for keras_line in ["autoencoder.compile(optimizer='adam', loss='binary_crossentropy')",
                       "autoencoder.fit(x_train, x_train, epochs=3)",
                       "autoencoder.fit(x_train_noisy, x_train, epochs=10)",
                       "activity_regularizer=l1(10e-6)",
                       "encoded_standard = Model(input_img, code)",
                       "x_train = x_train.astype('float32') / 255.0"]:
        assert keras_line in body
    assert "mnist.load_data(subset=True)" in body
    assert "plt.show()" not in body.replace("# the article: plt.show()", "")
    assert "seaborn" not in body and "import" not in body


def test_the_vae_demo_keeps_the_keras_examples_lines():
    """Keras 2's MLP VAE example as written, but for Sampling and the loss (its docstring says why)."""
    text = (DEMOS / "04_variational.py").read_text()
    for keras_line in ['intermediate_dim = 512', 'latent_dim = 2', 'epochs = 50', 'batch_size = 128',
                       'z_mean = Dense(latent_dim, name="z_mean")(x)',
                       'encoder = Model(inputs, [z_mean, z_log_var, z], name="encoder")',
                       'decoder = Model(latent_inputs, outputs, name="decoder")',
                       'outputs = decoder(encoder(inputs)[2])',
                       'vae = Model(inputs, outputs, name="vae_mlp")']:
        assert keras_line in text, keras_line
    assert "Lambda" not in text.replace("Lambda(sampling", "")


def test_the_conv_demo_keeps_the_keras_blogs_lines():
    """The blog's convolutional autoencoder as written, but for what its docstring lists."""
    text = (DEMOS / "06_convolutional.py").read_text()
    for keras_line in ["input_img = Input(shape=(28, 28, 1))",
                       "x = Conv2D(16, (3, 3), activation='relu', padding='same')(input_img)",
                       "encoded = MaxPooling2D((2, 2), padding='same')(x)",
                       "x = Conv2D(16, (3, 3), activation='relu')(x)",
                       "decoded = Conv2D(1, (3, 3), activation='sigmoid', padding='same')(x)",
                       "autoencoder = Model(input_img, decoded)",
                       "x_train = np.reshape(x_train, (len(x_train), 28, 28, 1))",
                       "epochs=50", "batch_size=128", "validation_data=(x_test, x_test))"]:
        assert keras_line in text, keras_line
    assert text.count("UpSampling2D((2, 2))(x)") == 3
    assert "autoencoder.compile(optimizer='adam', loss='binary_crossentropy')" in text   # not adadelta
