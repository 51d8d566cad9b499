"""The article's notebook ("Applied Deep Learning, Part 3: Autoencoders", its notebook
`Part 3 - Autoencoders.ipynb`) runs on scratchae with its imports and its data line changed,
and its History has Keras's keys.

`NOTEBOOK` below follows the notebook's 21 code cells one for one, in its order: the imports,
its three helpers (the reconstructions figure, a loss plot, and `plot_compare_histories`, the
side-by-side table of every history key that broke when scratchae's History held more keys
than Keras's), the data, the vanilla autoencoder (deep, then shallow) and its weights, the
noisy digits and the denoising autoencoder, the standard and the L1-regularized sparse
autoencoders, their comparison, evaluation, mean code and code distribution. The model lines
are Keras's API as the article calls it; the helpers are written here the way a Keras user
writes them, walking `history.history.keys()`, with plain dicts and matplotlib where the
article used pandas and seaborn (neither is a dependency of scratchae).

`port` makes the only changes: `from keras.` -> `from scratchae.`, and the data line, which
takes a few hundred of the digits bundled with scratchae (`mnist.load_data()` downloads full
MNIST; the suite runs offline). The article's epochs are kept: on 300 images the 58 epochs
take a few seconds.

What Keras 2 and 3 record for these models: `history.history` is {'loss': [...]} for each,
the regularized one included (Keras folds an activity regularizer into `loss`, under no key
of its own); with validation_data also 'val_loss'; with compile(metrics=[...]) the named
metrics and their val_ twins, after 'loss' and 'val_loss' respectively.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from scratchae import utils  # noqa: E402
from scratchae.datasets import mnist  # noqa: E402

N_TRAIN, N_TEST = 300, 100

DATA_LINE = "(x_train, y_train), (x_test, y_test) = mnist.load_data()"
PORTED_DATA_LINE = "(x_train, y_train), (x_test, y_test) = few_digits()"

NOTEBOOK = [
# 1: the plotting and array imports
'''\
import matplotlib.pyplot as plt
import numpy as np
''',
# 2: Keras's
'''\
from keras.models import Model
from keras.layers import Dense, Input
from keras.datasets import mnist
from keras.regularizers import l1
from keras.optimizers import Adam
''',
# 3: the helpers
'''\
def plot_autoencoder_outputs(autoencoder, n, dims):
    decoded_imgs = autoencoder.predict(x_test)
    plt.figure(figsize=(10, 4.5))
    for row, (images, title) in enumerate([(x_test, 'Original Images'),
                                           (decoded_imgs, 'Reconstructed Images')]):
        for i in range(n):
            ax = plt.subplot(2, n, row * n + i + 1)
            plt.imshow(images[i].reshape(*dims))
            plt.gray()
            ax.get_xaxis().set_visible(False)
            ax.get_yaxis().set_visible(False)
            if i == n // 2:
                ax.set_title(title)
    plt.show()


def plot_loss(history):
    # every key of the history, one curve each
    plt.figure(figsize=(8, 6))
    top = 0.0
    for key in history.history.keys():
        plt.plot(history.epoch, history.history[key], label=key)
        top = max(top, max(history.history[key]))
    plt.ylim(0, top)
    plt.legend()
    plt.title('Loss: %.3f' % history.history['loss'][-1])


def plot_compare_histories(history_list, name_list, plot_accuracy=True):
    # one table, a column per (model, metric): the training keys of each history side by side,
    # labelled with the first history's keys, as the article's pandas table is
    columns = []
    min_epoch = len(history_list[0].epoch)
    losses = []
    for history in history_list:
        h = {key: val for key, val in history.history.items() if not key.startswith('val_')}
        columns.extend(h.values())
        min_epoch = min(min_epoch, len(history.epoch))
        losses.append(h['loss'][-1])
    metrics = [key for key in history_list[0].history.keys() if not key.startswith('val_')]
    labels = [(name, metric) for name in name_list for metric in metrics]
    if len(labels) != len(columns):
        raise ValueError('Length mismatch: Expected axis has %d elements, new values have %d '
                         'elements' % (len(columns), len(labels)))
    table = dict(zip(labels, columns))

    plt.figure(figsize=(6, 8))
    ax = plt.subplot(211)
    for name in name_list:
        ax.plot(range(min_epoch), table[(name, 'loss')][:min_epoch], label=name)
    ax.set_ylim(0, 1)
    ax.legend()
    plt.title("Training Loss: " + ' vs '.join([str(round(x, 3)) for x in losses]))
    if plot_accuracy:
        ax = plt.subplot(212)
        for name in name_list:
            ax.plot(range(min_epoch), table[(name, 'acc')][:min_epoch], label=name)
        plt.title("Accuracy")
        plt.xlabel("Epochs")
    plt.xlim(0, min_epoch - 1)
    plt.tight_layout()
    return table
''',
# 4: the data
'''\
(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train = x_train.astype('float32') / 255.0
x_test = x_test.astype('float32') / 255.0
x_train = x_train.reshape((len(x_train), np.prod(x_train.shape[1:])))
x_test = x_test.reshape((len(x_test), np.prod(x_test.shape[1:])))
print(x_train.shape)
print(x_test.shape)
''',
# 5: the vanilla autoencoder, deep
'''\
input_size = 784
hidden_size = 128
code_size = 32

input_img = Input(shape=(input_size,))
hidden_1 = Dense(hidden_size, activation='relu')(input_img)
code = Dense(code_size, activation='relu')(hidden_1)
hidden_2 = Dense(hidden_size, activation='relu')(code)
output_img = Dense(input_size, activation='sigmoid')(hidden_2)

autoencoder = Model(input_img, output_img)
autoencoder.compile(optimizer='adam', loss='binary_crossentropy')
history_deep = autoencoder.fit(x_train, x_train, epochs=3)
''',
# 6
'''\
plot_autoencoder_outputs(autoencoder, 5, (28, 28))
''',
# 7: the first layer's weights as images
'''\
weights = autoencoder.get_weights()[0].T
n = 10
plt.figure(figsize=(20, 5))
for i in range(n):
    ax = plt.subplot(1, n, i + 1)
    plt.imshow(weights[i].reshape(28, 28))
    ax.get_xaxis().set_visible(False)
    ax.get_yaxis().set_visible(False)
''',
# 8: the vanilla autoencoder, shallow
'''\
input_size = 784
code_size = 32

input_img = Input(shape=(input_size,))
code = Dense(code_size, activation='relu')(input_img)
output_img = Dense(input_size, activation='sigmoid')(code)

autoencoder = Model(input_img, output_img)
autoencoder.compile(optimizer='adam', loss='binary_crossentropy')
history_shallow = autoencoder.fit(x_train, x_train, epochs=5)
''',
# 9
'''\
plot_autoencoder_outputs(autoencoder, 5, (28, 28))
''',
# 10
'''\
weights = autoencoder.get_weights()[0].T
n = 10
plt.figure(figsize=(20, 5))
for i in range(n):
    ax = plt.subplot(1, n, i + 1)
    plt.imshow(weights[i + 20].reshape(28, 28))
    ax.get_xaxis().set_visible(False)
    ax.get_yaxis().set_visible(False)
''',
# 11: noisy digits
'''\
noise_factor = 0.4
x_train_noisy = x_train + noise_factor * np.random.normal(size=x_train.shape)
x_test_noisy = x_test + noise_factor * np.random.normal(size=x_test.shape)
x_train_noisy = np.clip(x_train_noisy, 0.0, 1.0)
x_test_noisy = np.clip(x_test_noisy, 0.0, 1.0)
''',
# 12
'''\
n = 5
plt.figure(figsize=(10, 4.5))
for row, (images, title) in enumerate([(x_test, 'Original Images'), (x_test_noisy, 'Noisy Input')]):
    for i in range(n):
        ax = plt.subplot(2, n, row * n + i + 1)
        plt.imshow(images[i].reshape(28, 28))
        plt.gray()
        ax.get_xaxis().set_visible(False)
        ax.get_yaxis().set_visible(False)
        if i == n // 2:
            ax.set_title(title)
''',
# 13: the denoising autoencoder
'''\
input_size = 784
hidden_size = 128
code_size = 32

input_img = Input(shape=(input_size,))
hidden_1 = Dense(hidden_size, activation='relu')(input_img)
code = Dense(code_size, activation='relu')(hidden_1)
hidden_2 = Dense(hidden_size, activation='relu')(code)
output_img = Dense(input_size, activation='sigmoid')(hidden_2)

autoencoder = Model(input_img, output_img)
autoencoder.compile(optimizer='adam', loss='binary_crossentropy')
history_denoising = autoencoder.fit(x_train_noisy, x_train, epochs=10)
''',
# 14
'''\
n = 5
plt.figure(figsize=(10, 7))
images = autoencoder.predict(x_test_noisy)
rows = [(x_test, 'Original Images'), (x_test_noisy, 'Noisy Input'), (images, 'Autoencoder Output')]
for row, (shown, title) in enumerate(rows):
    for i in range(n):
        ax = plt.subplot(3, n, row * n + i + 1)
        plt.imshow(shown[i].reshape(28, 28))
        plt.gray()
        ax.get_xaxis().set_visible(False)
        ax.get_yaxis().set_visible(False)
        if i == n // 2:
            ax.set_title(title)
''',
# 15: the sparse autoencoder, standard
'''\
input_size = 784
code_size = 32

input_img = Input(shape=(input_size,))
code = Dense(code_size, activation='relu')(input_img)
output_img = Dense(input_size, activation='sigmoid')(code)

autoencoder_standard = Model(input_img, output_img)
autoencoder_standard.compile(optimizer='adam', loss='binary_crossentropy')
history_standard = autoencoder_standard.fit(x_train, x_train, epochs=20)

encoded_standard = Model(input_img, code)
''',
# 16: ... and with an L1 activity penalty on the code
'''\
input_size = 784
code_size = 32

input_img = Input(shape=(input_size,))
code = Dense(code_size, activation='relu', activity_regularizer=l1(10e-6))(input_img)
output_img = Dense(input_size, activation='sigmoid')(code)

autoencoder_regularized = Model(input_img, output_img)
autoencoder_regularized.compile(optimizer='adam', loss='binary_crossentropy')
history_regularized = autoencoder_regularized.fit(x_train, x_train, epochs=20)

encoded_regularized = Model(input_img, code)
''',
# 17
'''\
plot_autoencoder_outputs(autoencoder_regularized, 5, (28, 28))
''',
# 18: the cell that failed while scratchae's History held extra keys
'''\
compared = plot_compare_histories([history_standard, history_regularized],
                                  ['Standard Autoencoder', 'Regularized Autoencoder'],
                                  plot_accuracy=False)
''',
# 19
'''\
test_loss_standard = autoencoder_standard.evaluate(x_test, x_test)
test_loss_regularized = autoencoder_regularized.evaluate(x_test, x_test)
''',
# 20
'''\
print(encoded_standard.predict(x_test).mean())
print(encoded_regularized.predict(x_test).mean())
''',
# 21: the code distributions (the article: seaborn's distplot of each)
'''\
standard_scores = encoded_standard.predict(x_test).ravel()
regularized_scores = encoded_regularized.predict(x_test).ravel()
plt.figure()
plt.hist(standard_scores, bins=50, density=True, histtype='step', label='standard model')
plt.hist(regularized_scores, bins=50, density=True, histtype='step', label='regularized model')
plt.legend()
''',
]


def port(cell: str) -> str:
    """The only changes: scratchae's modules for Keras's, and the bundled digits."""
    return cell.replace("from keras.", "from scratchae.").replace(DATA_LINE, PORTED_DATA_LINE)


def few_digits():
    """The data line's stand-in: (x_train, y_train), (x_test, y_test) as `mnist.load_data()`
    gives them (uint8 28 x 28 images), a few hundred of the bundled digits."""
    (x, y), (xt, yt) = mnist.load_data(subset=True)
    return (x[:N_TRAIN], y[:N_TRAIN]), (xt[:N_TEST], yt[:N_TEST])


@pytest.fixture(scope="module")
def notebook():
    """The ported cells, run in order in one namespace (as a kernel runs them): the namespace,
    what they printed and how many figures each cell opened."""
    import contextlib
    import io

    utils.set_random_seed(2017)
    np.random.seed(2017)                     # the article's np.random.normal noise
    plt.close("all")
    namespace = {"few_digits": few_digits, "__name__": "__notebook__"}
    printed, figures = io.StringIO(), []
    with contextlib.redirect_stdout(printed):
        for k, cell in enumerate(NOTEBOOK):
            before = len(plt.get_fignums())
            exec(compile(port(cell), f"<cell {k + 1}>", "exec"), namespace)
            figures.append(len(plt.get_fignums()) - before)
    plt.close("all")
    return namespace, printed.getvalue(), figures


def test_the_port_changes_only_the_imports_and_the_data_line():
    assert len(NOTEBOOK) == 21
    changed = [(a, b) for cell in NOTEBOOK
               for a, b in zip(cell.splitlines(), port(cell).splitlines()) if a != b]
    assert len(changed) == 6
    assert [a for a, _ in changed[:5]] == [l for l in NOTEBOOK[1].splitlines()]
    assert changed[5] == (DATA_LINE, PORTED_DATA_LINE)


def test_every_cell_runs_and_the_figure_cells_draw(notebook):
    namespace, printed, figures = notebook
    assert namespace["x_train"].shape == (N_TRAIN, 784) and namespace["x_test"].shape == (N_TEST, 784)
    assert printed.splitlines()[:2] == [str((N_TRAIN, 784)), str((N_TEST, 784))]
    assert printed.count("Epoch ") == 3 + 5 + 10 + 20 + 20           # the article's epochs, verbose
    # cells 6, 7, 9, 10, 12, 14, 17, 18, 21 (counted from 1) each open one figure; the others none
    assert [k + 1 for k, f in enumerate(figures) if f] == [6, 7, 9, 10, 12, 14, 17, 18, 21]
    assert all(f in (0, 1) for f in figures)


def test_the_histories_have_keras_keys(notebook):
    namespace, _, _ = notebook
    for name in ("history_deep", "history_shallow", "history_denoising", "history_standard",
                 "history_regularized"):
        h = namespace[name]
        assert list(h.history.keys()) == ['loss'], name
        assert h.epoch == list(range(len(h.history['loss'])))
    # the L1 penalty is inside the regularized model's loss, as in Keras, and apart in parts
    h = namespace["history_regularized"]
    penalty = namespace["autoencoder_regularized"].layers[1].name + "_penalty"     # "dense_12_penalty"
    assert list(h.parts) == ["reconstruction_loss", penalty]
    for total, rec, pen in zip(h.history["loss"], h.parts["reconstruction_loss"], h.parts[penalty]):
        assert pen > 0 and total == pytest.approx(rec + pen, rel=1e-9)
    assert namespace["history_standard"].parts["reconstruction_loss"] == namespace["history_standard"].history["loss"]


def test_plot_compare_histories_builds_its_table(notebook):
    namespace, _, _ = notebook
    table = namespace["compared"]
    assert list(table) == [("Standard Autoencoder", "loss"), ("Regularized Autoencoder", "loss")]
    assert table[("Regularized Autoencoder", "loss")] == namespace["history_regularized"].history["loss"]
    assert len(table[("Standard Autoencoder", "loss")]) == 20


class _OldHistory:
    """A stand-in for the History scratchae had before: the parts among Keras's keys."""

    def __init__(self, keys):
        self.epoch = [0, 1]
        self.history = {k: [0.3, 0.2] for k in keys}


def test_the_helper_catches_a_history_with_extra_keys(notebook):
    """The checker itself: the article's helper fails, as with pandas, on the old keys."""
    namespace, _, _ = notebook
    helper = namespace["plot_compare_histories"]
    old = [_OldHistory(["loss", "reconstruction_loss"]),
           _OldHistory(["loss", "reconstruction_loss", "dense_12_penalty"])]
    try:
        with pytest.raises(ValueError, match="Length mismatch: Expected axis has 5 elements, "
                                             "new values have 4"):
            helper(old, ["Standard", "Regularized"], plot_accuracy=False)
    finally:
        plt.close("all")


def test_the_penalty_makes_the_code_sparser_and_evaluate_matches(notebook):
    namespace, printed, _ = notebook
    mean_standard, mean_regularized = (float(v) for v in printed.strip().splitlines()[-2:])
    assert mean_regularized < mean_standard                             # the article's point
    m = namespace["autoencoder_regularized"]
    assert namespace["test_loss_regularized"] == pytest.approx(m.evaluate(namespace["x_test"],
                                                                          namespace["x_test"]))
    assert namespace["history_regularized"].history["loss"][-1] < namespace["history_regularized"].history["loss"][0]


# -- beyond the article: the other Keras keys --------------------------------------------------
def _model(compile_kwargs, regularized=True):
    from scratchae.layers import Dense, Input
    from scratchae.models import Model
    from scratchae.regularizers import l1

    input_img = Input(shape=(784,))
    code = Dense(32, activation='relu', activity_regularizer=l1(10e-6) if regularized else None,
                 name="code")(input_img)
    output_img = Dense(784, activation='sigmoid')(code)
    model = Model(input_img, output_img)
    model.compile(optimizer='adam', loss='binary_crossentropy', **compile_kwargs)
    return model


@pytest.fixture(scope="module")
def digits():
    (x, _), (xt, _) = few_digits()
    return x[:96].reshape(96, 784).astype('float32') / 255.0, xt[:32].reshape(32, 784).astype('float32') / 255.0


@pytest.mark.parametrize("metrics, validation, keys", [
    (None, False, ['loss']),
    (None, True, ['loss', 'val_loss']),
    (['reconstruction_loss'], False, ['loss', 'reconstruction_loss']),
    (['reconstruction_loss', 'code_penalty'], True,
     ['loss', 'reconstruction_loss', 'code_penalty', 'val_loss', 'val_reconstruction_loss', 'val_code_penalty']),
    (['code_penalty'], True, ['loss', 'code_penalty', 'val_loss', 'val_code_penalty']),
])
def test_keras_keys_with_validation_and_metrics(digits, metrics, validation, keys):
    x, xt = digits
    model = _model({} if metrics is None else {"metrics": metrics})
    h = model.fit(x, x, epochs=2, verbose=0, validation_data=(xt, xt) if validation else None)
    assert list(h.history.keys()) == keys
    assert model.metrics_names == ['loss', *(metrics or [])]
    # a metric's values are its part's, and the parts are always all there
    for key in keys[1:]:
        if key != 'val_loss':
            assert h.history[key] == h.parts[key]
    assert set(h.parts) == {"reconstruction_loss", "code_penalty"} | (
        {"val_reconstruction_loss", "val_code_penalty"} if validation else set())


def test_a_metric_the_model_does_not_compute_is_refused_before_any_step(digits):
    x, _ = digits
    model = _model({"metrics": ["code_penalty"]}, regularized=False)
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"names \['code_penalty'\], which this model does not "
                                         r"compute: its metrics can be the parts of its loss, "
                                         r"\['reconstruction_loss'\]"):
        model.fit(x, x, epochs=1, verbose=0)
    assert model.optimizer.iterations == 0
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="'accuracy' is one of Keras's metrics computed from the predictions"):
        _model({"metrics": ["accuracy"]})
