"""MaxPooling2D, UpSampling2D, Flatten and Reshape: known answers by hand (the arg-max and its
ties, 'same' padding that never wins, block sums), float64 finite differences on inputs kept
apart (no ties: the max's kink), a max gradient sent to the whole window caught, configs, and
shapes refused."""
import numpy as np
import pytest

from scratchae.gradcheck import check_layer
from scratchae.layers import LAYERS, Flatten, MaxPooling2D, Reshape, UpSampling2D


def img(rows):
    """A (1, H, W, 1) image from a list of rows."""
    return np.array(rows, dtype=np.float64)[None, :, :, None]


def distinct(shape, seed=0):
    """Values with no two closer than 0.1 (a permutation, scaled): no ties, so no window's
    max is within a finite difference's step of another."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 1.0).astype(np.float64)


# -- MaxPooling2D ---------------------------------------------------------------------------------
def test_max_pooling_by_hand():
    x = img([[1, 5, 2, 0], [3, 4, 9, 8], [7, 0, 6, 1], [2, 8, 3, 3.5]])
    pool = MaxPooling2D((2, 2), dtype="float64")
    y = pool.forward(x)
    np.testing.assert_array_equal(y[0, :, :, 0], [[5, 9], [8, 6]])
    dx = pool.backward(img([[10, 20], [30, 40]]))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 10, 0, 0], [0, 0, 20, 0], [0, 0, 40, 0], [0, 30, 0, 0]])


def test_same_padding_never_wins_and_pads_below_and_right():
    # 3x3 -> 2x2 with 'same': one row of padding below and one column right, as -inf, so an
    # all-negative window keeps its own max (zero padding would give 0)
    x = img([[1, 5, 2], [3, 4, 9], [7, 0, 6]]) - 10.0
    pool = MaxPooling2D((2, 2), padding="same", dtype="float64")
    y = pool.forward(x)
    np.testing.assert_array_equal(y[0, :, :, 0], [[-5, -1], [-3, -4]])
    dx = pool.backward(img([[1, 2], [3, 4]]))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 1, 0], [0, 0, 2], [3, 0, 4]])
    assert pool.compute_output_shape((7, 7, 8)) == (4, 4, 8)           # the blog's 7 -> 4


def test_ties_send_the_gradient_to_the_first_max_only():
    pool = MaxPooling2D((2, 2), dtype="float64")
    pool.forward(img([[3, 3], [3, 3]]))                                  # four equal values
    np.testing.assert_array_equal(pool.backward(img([[1.0]]))[0, :, :, 0], [[1, 0], [0, 0]])
    pool.forward(img([[0, 7], [7, 1]]))                                  # a tie off the corner
    np.testing.assert_array_equal(pool.backward(img([[1.0]]))[0, :, :, 0], [[0, 1], [0, 0]])
    assert pool.kink_signs()[0].ravel().tolist() == [1]                  # the winner's cell: (0, 1)


def test_overlapping_windows_add_at_a_shared_max():
    pool = MaxPooling2D((2, 2), strides=(1, 1), dtype="float64")
    y = pool.forward(img([[0, 1, 0], [2, 9, 3], [0, 4, 0]]))
    np.testing.assert_array_equal(y[0, :, :, 0], [[9, 9], [9, 9]])
    np.testing.assert_array_equal(pool.backward(img([[1, 2], [3, 4]]))[0, :, :, 0],
                                  [[0, 0, 0], [0, 10, 0], [0, 0, 0]])


def test_channels_are_pooled_apart():
    x = np.stack([img([[1, 2], [3, 4]])[..., 0], img([[8, 7], [6, 5]])[..., 0]], axis=-1)
    pool = MaxPooling2D((2, 2), dtype="float64")
    np.testing.assert_array_equal(pool.forward(x)[0, 0, 0], [4, 8])
    dx = pool.backward(np.array([[[[1.0, 2.0]]]]))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 0], [0, 1]])
    np.testing.assert_array_equal(dx[0, :, :, 1], [[2, 0], [0, 0]])


@pytest.mark.parametrize("pool_size, strides, padding", [
    ((2, 2), None, "valid"), ((2, 2), None, "same"), ((3, 2), (1, 2), "same"), ((2, 2), (1, 1), "valid")],
    ids=["2x2", "2x2-same", "3x2-s12-same", "overlapping"])
def test_max_pooling_finite_differences(pool_size, strides, padding):
    pool = MaxPooling2D(pool_size, strides=strides, padding=padding, dtype="float64", name="pool")
    rep = check_layer(pool, distinct((2, 5, 5, 2)))
    assert rep.ok, str(rep)
    assert rep.worst.error < 1e-8, str(rep)


class EveryInput(MaxPooling2D):
    """The shipped mistake: the max's gradient sent to every input of the window."""

    def backward(self, dy):
        ph, pw = self.pool_size
        return np.asarray(dy).repeat(ph, axis=1).repeat(pw, axis=2)


def test_the_check_catches_the_gradient_sent_to_the_whole_window():
    x = distinct((2, 4, 4, 2))
    rep = check_layer(EveryInput((2, 2), dtype="float64", name="bad"), x)
    assert not rep.ok
    assert [r.name for r in rep.rows if r.verdict == "wrong"] == ["bad/x"], str(rep)


def test_max_pooling_refusals_and_config():
    with pytest.raises(ValueError, match=r"pool_size \(3, 3\) is larger than its input \(2, 2\)"):
        MaxPooling2D((3, 3)).build((2, 2, 1))
    with pytest.raises(ValueError, match="4-D input"):
        MaxPooling2D().forward(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="padding"):
        MaxPooling2D(padding="causal")
    with pytest.raises(RuntimeError, match="before forward"):
        MaxPooling2D().backward(np.zeros((1, 1, 1, 1)))
    pool = MaxPooling2D((3, 2), strides=(1, 2), padding="same", name="p")
    assert pool.strides == (1, 2) and MaxPooling2D((3, 3)).strides == (3, 3)    # Keras: strides = pool_size
    again = LAYERS["MaxPooling2D"].from_config(pool.get_config())
    assert again.get_config() == pool.get_config() and again.pool_size == (3, 2)
    assert MaxPooling2D().name.startswith("max_pooling2d")


# -- UpSampling2D ---------------------------------------------------------------------------------
def test_upsampling_by_hand():
    up = UpSampling2D((2, 3), dtype="float64")
    y = up.forward(img([[1, 2], [3, 4]]))
    np.testing.assert_array_equal(y[0, :, :, 0], [[1, 1, 1, 2, 2, 2], [1, 1, 1, 2, 2, 2],
                                                  [3, 3, 3, 4, 4, 4], [3, 3, 3, 4, 4, 4]])
    dy = np.arange(24, dtype=np.float64).reshape(1, 4, 6, 1)
    # each input's gradient sums its 2x3 block: rows 0-1 x cols 0-2 = 0+1+2+6+7+8 = 24, ...
    np.testing.assert_array_equal(up.backward(dy)[0, :, :, 0], [[24, 42], [96, 114]])
    assert up.compute_output_shape((4, 4, 8)) == (8, 12, 8)


def test_upsampling_finite_differences_and_config():
    up = UpSampling2D(2, dtype="float64", name="up")
    rep = check_layer(up, np.random.default_rng(0).normal(size=(2, 3, 2, 3)))
    assert rep.ok and rep.worst.error < 1e-8, str(rep)
    assert LAYERS["UpSampling2D"].from_config(up.get_config()).size == (2, 2)
    with pytest.raises(ValueError, match="nearest"):
        UpSampling2D(interpolation="bilinear")
    with pytest.raises(ValueError, match="4-D input"):
        UpSampling2D().forward(np.zeros((1, 4, 4)))


# -- Flatten and Reshape ---------------------------------------------------------------------------
def test_flatten_and_reshape_by_hand():
    x = np.arange(12, dtype=np.float64).reshape(1, 2, 3, 2)
    flat = Flatten(dtype="float64")
    y = flat.forward(x)
    assert y.shape == (1, 12) and y[0].tolist() == list(range(12))        # row-major, channels last
    np.testing.assert_array_equal(flat.backward(y * 2), x * 2)
    back = Reshape((2, -1, 2), dtype="float64")
    assert back.compute_output_shape((12,)) == (2, 3, 2)
    np.testing.assert_array_equal(back.forward(y), x)
    np.testing.assert_array_equal(back.backward(x + 1), y + 1)


def test_flatten_and_reshape_finite_differences_and_refusals():
    x = np.random.default_rng(0).normal(size=(2, 2, 3, 2))
    assert check_layer(Flatten(dtype="float64", name="f"), x).ok
    assert check_layer(Reshape((3, 4), dtype="float64", name="r"), x).ok
    with pytest.raises(ValueError, match=r"cannot reshape \(2, 3, 2\) \(12 values\) to \(5, 2\)"):
        Reshape((5, 2), name="r5").build((2, 3, 2))
    with pytest.raises(ValueError, match="at most one -1"):
        Reshape((-1, -1))
    with pytest.raises(ValueError, match="positive ints"):
        Reshape((0, 4))
    cfg = Reshape((4, 4, 8), name="r8").get_config()
    assert LAYERS["Reshape"].from_config(cfg).target_shape == (4, 4, 8)
