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


def test_first_layer_weights_grid_on_one_colour_scale():
    kernel = np.random.default_rng(1).standard_normal((784, 128)).astype(np.float32)
    fig = plotting.first_layer_weights(kernel)                   # 36 units, 6 x 6, a colour bar
    units, bars = fig.axes[:36], fig.axes[36:]
    assert len(units) == 36 and len(bars) == 1
    assert units[35].get_subplotspec().rowspan.start == 5 and units[35].get_subplotspec().colspan.start == 5
    np.testing.assert_array_equal(units[3].images[0].get_array(), kernel[:, 3].reshape(28, 28))
    m = np.abs(kernel[:, :36]).max()
    assert {im.get_clim() for ax in units for im in ax.images} == {(-m, m)}   # one scale, centred on 0
    assert "weight" in bars[0].get_ylabel()
    assert fig._suptitle.get_text().startswith("First-layer weights")
    fig = plotting.first_layer_weights(kernel[:, :12], n=12, columns=5)
    assert len(fig.axes) == 13
    assert fig.axes[11].get_subplotspec().rowspan.start == 2     # third row


def test_compare_losses_of_reconstruction_says_so():
    h = {"loss": [0.3, 0.1325], "reconstruction_loss": [0.28, 0.1151]}
    fig = plotting.compare_losses({"standard": {"loss": [0.2, 0.1088], "reconstruction_loss": [0.2, 0.1088]},
                                   "l1": h}, key="reconstruction_loss", run="sparse, mnist-5k")
    (ax,) = fig.axes
    assert ax.get_title() == "Training reconstruction loss (penalty excluded): standard 0.1088 vs l1 0.1151"
    assert list(ax.get_lines()[1].get_ydata()) == [0.28, 0.1151]
    assert "BCE alone" in ax.get_ylabel()
    assert any(t.get_text() == "run: sparse, mnist-5k" for t in fig.texts)
    with pytest.raises(ValueError, match="no 'reconstruction_loss'"):
        plotting.compare_losses({"a": [0.1]} | {"b": {"loss": [1.0]}}, key="reconstruction_loss")


def test_every_figure_has_a_title_labelled_axes_and_its_run(images):
    from scratchae import figures_code

    codes = np.abs(np.random.default_rng(0).standard_normal((20, 4)))
    figs = [plotting.reconstructions(images, images, run="r"),
            plotting.denoising(images, images, images, run="r"),
            plotting.code_distributions({"a": codes}, run="r"),
            plotting.loss_curves({"a": [0.3, 0.2]}, run="r"),
            plotting.first_layer_weights(np.ones((784, 4)), n=4, run="r"),
            figures_code.code_space(codes, np.arange(20) % 3, run="r"),
            figures_code.unit_sparsity({"a": codes}, run="r"),
            figures_code.code_interpolation(images[0], images[1], images[:5], run="r")]
    for fig in figs:
        title = fig._suptitle.get_text() if fig._suptitle else fig.axes[0].get_title()
        assert title, fig
        assert [t.get_text() for t in fig.texts if t.get_text().startswith("run: ")] == ["run: r"]
        for ax in fig.axes:
            if ax.axison and ax.get_xticks().size and ax.lines + ax.patches + ax.collections:
                assert ax.get_xlabel() and ax.get_ylabel(), (title, ax)
    _png_roundtrip(figs[-1])


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
    (lambda x: plotting.first_layer_weights(np.zeros((784, 4)), n=4, columns=0), "columns"),
])
def test_bad_input_is_a_clear_value_error(images, call, match):
    with pytest.raises(ValueError, match=match):
        call(images)


def test_empty_mapping_is_a_type_error():
    with pytest.raises(TypeError, match="non-empty dict"):
        plotting.loss_curves({})


# -- the code space (figures_code) ----------------------------------------------------------------
def test_pca_projection_of_a_hand_made_case():
    """Four codes in 3-D around (3, 3, 7): spread 1 along x, 0.5 along y, none along z. The
    principal components are +x and +y (signs: largest component positive), the projection
    the offsets themselves, and x explains 2 / (2 + 0.5) of the variance."""
    from scratchae import figures_code

    offsets = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.5], [0.0, -0.5]])
    codes = np.hstack([offsets, np.zeros((4, 1))]) + [3.0, 3.0, 7.0]
    points, explained = figures_code.pca_2d(codes)
    np.testing.assert_allclose(points, offsets, atol=1e-12)
    np.testing.assert_allclose(explained, [0.8, 0.2])
    # the same rotated by 30 degrees in the (x, z) plane: the first component follows it
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    rotated = np.hstack([offsets[:, :1] * c, offsets[:, 1:], offsets[:, :1] * s])
    points, _ = figures_code.pca_2d(rotated)
    np.testing.assert_allclose(points, offsets, atol=1e-12)
    # and the figure plots exactly that projection, one colour per label
    fig = figures_code.code_space(codes, np.array([7, 7, 1, 1]))
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["1", "7"]
    shown = np.vstack([coll.get_offsets() for coll in ax.collections])
    np.testing.assert_allclose(shown, offsets[[2, 3, 0, 1]], atol=1e-12)
    assert ax.get_xlabel() == "principal component 1 (80% of the code variance)"


def test_line_between_and_the_interpolation_row(images):
    from scratchae import figures_code

    line = figures_code.line_between([0.0, 2.0], [4.0, 2.0], steps=5)
    np.testing.assert_allclose(line, [[0, 2], [1, 2], [2, 2], [3, 2], [4, 2]])
    fig = figures_code.code_interpolation(images[0], images[1], images[2:7], labels=("digit 7", "digit 2"))
    assert [ax.get_title() for ax in fig.axes] == ["input: digit 7", "t = 0.00", "t = 0.25", "t = 0.50",
                                                   "t = 0.75", "t = 1.00", "input: digit 2"]
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), images[2].reshape(28, 28))
    with pytest.raises(ValueError, match="steps"):
        figures_code.line_between([0.0], [1.0], steps=1)


def test_unit_sparsity_per_unit_zero_fraction_and_mean():
    from scratchae import figures_code

    standard = np.array([[1.0, 0.0, 3.0], [3.0, 0.0, 1.0]])        # means 2, 0, 2; zeros 0, 1, 0
    sparse = np.array([[0.0, 0.5, 0.0], [0.0, 0.5, 1.0]])          # means 0, .5, .5; zeros 1, 0, .5
    fig = figures_code.unit_sparsity({"standard": standard, "l1": sparse})
    top, bottom = fig.axes
    heights = lambda ax, i: [p.get_height() for p in ax.containers[i]]
    # units sorted by their mean, largest first (ties keep their order)
    assert heights(bottom, 0) == [2.0, 2.0, 0.0] and heights(top, 0) == [0.0, 0.0, 1.0]
    assert heights(bottom, 1) == [0.5, 0.5, 0.0] and heights(top, 1) == [0.0, 0.5, 1.0]
    labels = [t.get_text() for t in top.get_legend().get_texts()]
    assert labels == ["standard: on average 33% zeros, mean 1.33", "l1: on average 50% zeros, mean 0.33"]


# -- what a Monitor recorded (figures_training) ---------------------------------------------------
def _monitor_records():
    nan = None
    return {"every": 5, "steps": [1, 6, 11], "epochs": [0.2, 1.2, 2.2], "layers": ["d", "o"],
            "kinds": {"d": "relu", "o": "sigmoid"}, "shapes": {"d": "4\u21922", "o": "2\u21924"},
            "values": {"grad_norm": {"d": [1e-2, 1e-3, 1e-4], "o": [1e-1, 1e-1, 1e-1]},
                       "update_ratio": {"d": [1e-2, 1e-3, 1e-5], "o": [1e-3, 1e-3, 1e-3]},
                       "dead_fraction": {"d": [0.0, 0.5, 1.0], "o": [nan, nan, nan]},
                       "saturated_fraction": {"d": [nan, nan, nan], "o": [0.1, 0.2, 0.3]},
                       "act_mean": {"d": [1.0, 2.0, 3.0], "o": [0.5, 0.5, 0.5]},
                       "act_std": {"d": [0.1, 0.2, 0.3], "o": [0.1, 0.1, 0.1]}}}


def test_monitor_figures_plot_the_records_on_labelled_log_axes():
    from scratchae import figures_training as ft

    rec = _monitor_records()
    fig = ft.gradient_norms(rec, run="vanilla")
    (ax,) = fig.axes
    assert ax.get_yscale() == "log" and "log scale" in ax.get_ylabel()
    assert [l.get_label() for l in ax.get_lines()] == ["d (relu, 4\u21922)", "o (sigmoid, 2\u21924)"]
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [0.2, 1.2, 2.2])
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), [1e-2, 1e-3, 1e-4])

    fig = ft.update_ratios(rec)
    (ax,) = fig.axes
    line = [l for l in ax.get_lines() if l.get_linestyle() == "--"]
    assert len(line) == 1 and list(line[0].get_ydata()) == [1e-3, 1e-3]
    assert ax.get_yscale() == "log" and "log scale" in ax.get_ylabel()

    fig = ft.unit_health(rec)
    dead, sat = fig.axes
    assert [l.get_label() for l in dead.get_lines()] == ["d (relu, 4\u21922)"]
    np.testing.assert_array_equal(dead.get_lines()[0].get_ydata(), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(sat.get_lines()[0].get_ydata(), [0.1, 0.2, 0.3])
    assert "0.01" in sat.get_title() and "0.99" in sat.get_title()

    fig = ft.activation_stats(rec)
    (ax,) = fig.axes
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), [1.0, 2.0, 3.0])
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(0.9) and band.max() == pytest.approx(3.3)
    _png_roundtrip(fig)


def test_monitor_figures_refuse_an_empty_monitor():
    from scratchae import figures_training as ft
    from scratchae.monitor import Monitor

    with pytest.raises(ValueError, match="recorded nothing"):
        ft.gradient_norms(Monitor())
    with pytest.raises(TypeError, match="Monitor"):
        ft.update_ratios([1, 2])


def test_every_module_s_figures_show_inline_as_the_png_savefig_writes(images):
    """A notebook shows a cell's last value through its `_repr_png_` (IPython's display calls
    it): the bytes are a PNG, and the picture is the one `savefig` writes for the script."""
    import matplotlib.image
    from scratchae import figures_code, figures_training, figures_vae

    codes = np.abs(np.random.default_rng(0).standard_normal((20, 2)))
    makers = [lambda: plotting.reconstructions(images, images),
              lambda: plotting.reconstructions(images, images, title=None),   # the untitled path
              lambda: figures_code.unit_sparsity({"a": codes}),
              lambda: figures_vae.latent_scatter(codes, np.arange(20) % 3),
              lambda: figures_training.gradient_norms(_monitor_records())]
    for make in makers:                  # two copies: a first drawing of each, to compare
        data = make()._repr_png_()
        assert isinstance(data, bytes) and data[:8] == PNG_SIGNATURE, make
        shown = matplotlib.image.imread(io.BytesIO(data), format="png")
        np.testing.assert_array_equal(shown, _png_roundtrip(make()))
        assert shown.std() > 0
    # the checker catches a figure that would show only '<Figure size ...>' in a notebook
    assert not hasattr(Figure(), "_repr_png_")
