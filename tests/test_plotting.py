"""plotting: each function returns a Figure with the article's layout; it saves as a real PNG."""
import io

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from scratchae import plotting
from scratchae.models import History

matplotlib.use("Agg")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return rng.random((8, 784), dtype=np.float32)


def _history(losses):
    h = History()
    for i, v in enumerate(losses):
        h._record(i, {"loss": v})
    return h


def _png_roundtrip(fig: Figure) -> np.ndarray:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = buf.getvalue()
    assert data[:8] == PNG_SIGNATURE
    import matplotlib.image

    return matplotlib.image.imread(io.BytesIO(data), format="png")


def _titles(fig):
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


def test_reconstructions_layout(images):
    fig = plotting.reconstructions(images, images[::-1])
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 10                                   # 2 x 5
    assert tuple(fig.get_size_inches()) == (10, 4.5)
    assert _titles(fig) == ["Original Images", "Reconstructed Images"]
    assert fig.axes[2].get_title() == "Original Images"           # over the middle column
    assert all(not ax.axison for ax in fig.axes)
    assert fig.axes[0].images[0].get_cmap().name == "gray"
    # the top-left image is the first original, reshaped to 28 x 28
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), images[0].reshape(28, 28))
    np.testing.assert_array_equal(fig.axes[5].images[0].get_array(), images[-1].reshape(28, 28))
    pixels = _png_roundtrip(fig)
    assert pixels.shape[:2] == (450, 1000)                       # figsize x 100 dpi


def test_reconstructions_accepts_square_images_and_n(images):
    fig = plotting.reconstructions(images.reshape(-1, 28, 28), images, n=3)
    assert len(fig.axes) == 6


def test_denoising_layout(images):
    fig = plotting.denoising(images, images, images, n=5)
    assert len(fig.axes) == 15                                   # 3 x 5
    assert tuple(fig.get_size_inches()) == (10, 7)
    assert _titles(fig) == ["Original Images", "Noisy Input", "Autoencoder Output"]
    _png_roundtrip(fig)


def test_code_distributions_means_in_legend():
    standard = np.full((10, 32), 6.6, dtype=np.float32)
    standard[0, 0] = 0.0
    regularized = np.linspace(0, 1.56, 320, dtype=np.float32).reshape(10, 32)
    fig = plotting.code_distributions({"standard": standard, "regularized": regularized})
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [f"standard (mean {standard.mean():.2f})", "regularized (mean 0.78)"]
    assert len(ax.patches) == 2                                  # two overlaid histograms
    _png_roundtrip(fig)


def test_compare_losses_title_has_final_values():
    fig = plotting.compare_losses({"standard": _history([0.2, 0.1, 0.0933]),
                                   "regularized": {"loss": [0.3, 0.2, 0.1032]}})
    (ax,) = fig.axes
    assert ax.get_title() == "Training Loss: standard 0.0933 vs regularized 0.1032"
    assert [len(line.get_xdata()) for line in ax.get_lines()] == [3, 3]
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3]      # epochs counted from 1
    _png_roundtrip(fig)


def test_loss_curves_one_line_per_model():
    fig = plotting.loss_curves({"a": [0.5, 0.4], "b": _history([0.3]), "c": {"loss": [1, 0.9, 0.8]}})
    (ax,) = fig.axes
    assert len(ax.get_lines()) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "a (final 0.4000)", "b (final 0.3000)", "c (final 0.8000)"]


def test_first_layer_weights_grid():
    kernel = np.random.default_rng(1).standard_normal((784, 128)).astype(np.float32)
    fig = plotting.first_layer_weights(kernel, n=10)
    assert len(fig.axes) == 10
    np.testing.assert_array_equal(fig.axes[3].images[0].get_array(), kernel[:, 3].reshape(28, 28))
    fig = plotting.first_layer_weights(kernel, n=25, columns=10)
    assert len(fig.axes) == 25
    assert fig.axes[24].get_subplotspec().rowspan.start == 2     # third row
    _png_roundtrip(fig)


@pytest.mark.parametrize("call, match", [
    (lambda x: plotting.reconstructions(x, x[:3]), "differ in length"),
    (lambda x: plotting.reconstructions(x, x, n=0), "positive integer"),
    (lambda x: plotting.reconstructions(x, x, n=9), "only 8"),
    (lambda x: plotting.reconstructions(x[:, :700], x[:, :700]), r"\(N, 784\)"),
    (lambda x: plotting.denoising(x, x, x[:2]), "differ in length"),
    (lambda x: plotting.code_distributions({"a": np.array([np.nan])}), "finite"),
    (lambda x: plotting.compare_losses({"a": []}), "no epochs"),
    (lambda x: plotting.loss_curves({"a": {"val_loss": [1.0]}}), "no 'loss'"),
    (lambda x: plotting.first_layer_weights(x[0]), "2-D"),
    (lambda x: plotting.first_layer_weights(np.zeros((784, 4)), n=5), "only 4"),
])
def test_bad_input_is_a_clear_value_error(images, call, match):
    with pytest.raises(ValueError, match=match):
        call(images)


def test_empty_mapping_is_a_type_error():
    with pytest.raises(TypeError, match="non-empty dict"):
        plotting.loss_curves({})
