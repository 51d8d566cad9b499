"""The BLAS-thread policy sees a convolution's products (`training.largest_product`).

A Conv2D kernel (kh, kw, C, F) is applied at every output position: its im2col product is
(N Ho Wo, kh kw C) . (kh kw C, F), N Ho Wo kh kw C F multiply-adds. Counted as a 2-D
kernel only, a conv model's largest product was 0 and it always trained on one thread.
"""
from __future__ import annotations

from scratchae import _blas, autoencoders
from scratchae.layers import Conv2D, Dense, Input
from scratchae.models import Model
from scratchae.training import largest_product


def test_a_conv_kernel_counts_once_per_output_position():
    inp = Input(shape=(10, 12, 3))
    model = Model(inp, Conv2D(5, (3, 2), padding="valid", seed=0)(inp))     # out 8 x 11
    assert largest_product(model, 4) == 4 * (8 * 11) * (3 * 2 * 3 * 5)


def test_strides_and_same_padding_set_the_positions():
    inp = Input(shape=(7, 7, 2))
    model = Model(inp, Conv2D(4, 3, strides=2, padding="same", seed=0)(inp))  # out 4 x 4
    assert largest_product(model, 2) == 2 * 16 * (3 * 3 * 2 * 4)


def test_the_blogs_model_is_counted_by_its_largest_conv():
    # by hand: encoder conv 2 (14x14 out, 3x3x16x8) and decoder conv 3 ('valid' 16 -> 14,
    # 3x3x8x16) both make 196 * 1152 = 225,792 per image, the largest of the seven
    model = autoencoders.convolutional(seed=0).model
    assert largest_product(model, 128) == 128 * 225_792
    assert largest_product(model, 128) > _blas.CROSSOVER      # so two threads are timed


def test_dense_and_float64_are_counted_as_before():
    inp = Input(shape=(6,), dtype="float64")
    model = Model(inp, Dense(6, dtype="float64", seed=0)(Dense(3, dtype="float64", seed=1)(inp)))
    assert largest_product(model, 8) == 8 * 18 * 2
