"""The convolution that trains: im2col and col2im, one matrix product per step.

The same numbers as `scratchae.conv_naive` (tests/test_conv.py holds them equal to float64
rounding on random shapes), rearranged so that the work is one BLAS product each:

    im2col   cols[(n, i, j), (a, b, c)] = xp[n, i sh + a, j sw + b, c]
             every window of the padded input as one row, (N Ho Wo, kh kw C); a strided view
             of xp (`scratchae.windows.window_view`) copied once into a matrix
    forward  y = cols . K2 + b          K2 = K reshaped to (kh kw C, F); y reshaped (N, Ho, Wo, F)
    backward with dY = dy reshaped (N Ho Wo, F):
             dK   = cols^T . dY          (kh kw C, N Ho Wo) . (N Ho Wo, F), reshaped (kh, kw, C, F)
             db   = dY summed over its rows
             dcols = dY . K2^T           (N Ho Wo, kh kw C): each window's share of dx
    col2im   dxp[n, i sh + a, j sw + b, c] += dcols[(n, i, j), (a, b, c)]
             adds every window's share back where it was read: kh kw vectorised adds, one per
             kernel offset (a, b), so windows that overlap add up as the chain rule says

With stride 1 the input gradient has a second form, one product too: the full correlation
of dy with the flipped kernel (`full_correlation`, the textbook's "full convolution"). The
backward takes whichever moves fewer numbers: the flip where F is small and C large (the
blog's last layer, 16 channels in and 1 out: 20 times less), col2im otherwise.

Each of the three products is Dense's (`scratchae.dense`: x . W, x^T . dz, dz . W^T) with the
windows as the rows: a convolution is a Dense layer applied to every window, sharing its W.
"""
from __future__ import annotations

import numpy as np

from .windows import geometry, pad_hw, window_view


def im2col(xp: np.ndarray, window: tuple[int, int], strides: tuple[int, int],
           out: tuple[int, int]) -> np.ndarray:
    """(N Ho Wo, kh kw C): row (n, i, j) is the window of output element (n, i, j), flattened
    in (a, b, c) order, the order of the kernel's first three axes."""
    view = window_view(xp, window, strides, out)                  # (N, Ho, Wo, kh, kw, C), no copy
    return view.reshape(-1, window[0] * window[1] * xp.shape[3])  # the one copy


def col2im(dcols_t: np.ndarray, xp_shape: tuple[int, ...], window: tuple[int, int],
           strides: tuple[int, int], out: tuple[int, int]) -> np.ndarray:
    """The adjoint of im2col: dxp (N, Hp, Wp, C) with each window's share added back where
    im2col read it. dcols_t is the shares transposed, (kh kw C, N Ho Wo) = K2 . dY^T: in that
    layout each kernel offset (a, b) is one contiguous (C, N, Ho, Wo) block, added into a
    channels-first dxp (the adds read memory in order), turned channels-last at the end."""
    n, hp, wp, c = xp_shape
    (kh, kw), (sh, sw), (ho, wo) = window, strides, out
    d = dcols_t.reshape(kh, kw, c, n, ho, wo)
    dxp = np.zeros((c, n, hp, wp), dtype=dcols_t.dtype)
    for a in range(kh):
        for b in range(kw):
            dxp[:, :, a:a + sh * (ho - 1) + 1:sh, b:b + sw * (wo - 1) + 1:sw] += d[a, b]
    return dxp.transpose(1, 2, 3, 0)


def full_columns(dy: np.ndarray, window: tuple[int, int], xp_hw: tuple[int, int]) -> np.ndarray:
    """(N Hp Wp, kh kw F): im2col of dy padded by kh - 1 and kw - 1 ("full"), stride 1: row
    (n, p, q) holds dy[n, p - (kh-1) + a', q - (kw-1) + b', f] in (a', b', f) order, the
    offsets a = kh-1-a' of the output elements that read input pixel (p, q)."""
    kh, kw = window
    return im2col(pad_hw(dy, ((kh - 1, kh - 1), (kw - 1, kw - 1))), window, (1, 1), xp_hw)


def full_correlation(dy: np.ndarray, kernel: np.ndarray, xp_hw: tuple[int, int],
                     cols: np.ndarray | None = None) -> np.ndarray:
    """dxp for stride 1 as one product: the full columns of dy (`full_columns`, or `cols`
    if already made), times the flipped kernel Kflip[a, b, f, c] = K[kh-1-a, kw-1-b, c, f]
    (docs/backprop.md#conv2d). Cheaper than col2im when F Hp Wp < C Ho Wo, as in a last
    layer of 1 channel."""
    kh, kw, c, f = kernel.shape
    if cols is None:
        cols = full_columns(dy, (kh, kw), xp_hw)
    flipped = kernel[::-1, ::-1, :, :].transpose(0, 1, 3, 2).reshape(kh * kw * f, c)
    return (cols @ flipped).reshape(dy.shape[0], xp_hw[0], xp_hw[1], c)


def shift_forward(xp: np.ndarray, kernel: np.ndarray, out: tuple[int, int]) -> np.ndarray:
    """y channels-first (F, N, Ho, Wo), without the bias, for stride 1, as one product and
    kh kw shifted adds: every pixel of xp times every kernel offset's (C, F) slice at once,

        P[a, b, f, n, p, q] = sum_c K[a, b, c, f] xp[n, p, q, c]     (kh kw F, C) . (C, N Hp Wp)
        y[f, n, i, j]       = sum_{a, b} P[a, b, f, n, i + a, j + b]

    the same sum as im2col's, in another order: the product makes kh kw F numbers per pixel
    where im2col copies kh kw C, so it moves less where F < C (the blog's last layer: 16
    channels in, 1 out, 16 times less)."""
    kh, kw, c, f = kernel.shape
    n, hp, wp, _ = xp.shape
    ho, wo = out
    rows = kernel.transpose(0, 1, 3, 2).reshape(kh * kw * f, c)           # rows (a, b, f)
    p = (rows @ xp.reshape(-1, c).T).reshape(kh, kw, f, n, hp, wp)      # each (a, b) one block
    y = p[0, 0, :, :, :ho, :wo].copy()
    for a in range(kh):
        for b in range(kw):
            if a or b:
                y += p[a, b, :, :, a:a + ho, b:b + wo]
    return y


class ConvCache:
    """What the fast forward keeps for its backward: the columns (im2col) or the padded input
    (shift), and the geometry."""

    __slots__ = ("cols", "xp", "xp_shape", "pads", "window", "strides", "out")

    def __init__(self, cols, xp_shape, pads, window, strides, out, xp=None) -> None:
        self.cols, self.xp, self.xp_shape, self.pads = cols, xp, xp_shape, pads
        self.window, self.strides, self.out = window, strides, out

    @property
    def layout(self) -> str:
        return "im2col" if self.cols is not None else "shift"


LAYOUTS = ("im2col", "shift")


def choose_layout(c: int, f: int, xp_hw: tuple[int, int], out: tuple[int, int],
                  strides: tuple[int, int]) -> str:
    """'shift' at stride 1 where its per-pixel numbers move less (F Hp Wp < C Ho Wo), else
    'im2col'. The blog's model: 'shift' for encoder_conv_2 (16 -> 8) and output (16 -> 1)."""
    if strides == (1, 1) and f * xp_hw[0] * xp_hw[1] < c * out[0] * out[1]:
        return "shift"
    return "im2col"


def conv2d_forward_fast(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None,
                        strides: tuple[int, int] = (1, 1), padding: str = "valid",
                        layout: str | None = None) -> tuple[np.ndarray, ConvCache]:
    """(y (N, Ho, Wo, F), the cache for `conv2d_backward_fast`): y = im2col(xp) . K2 + b, or
    its shift form (`shift_forward`); layout None chooses (`choose_layout`), 'im2col' or
    'shift' (stride 1 only) forces one (the tests hold both equal to the loops)."""
    kh, kw, c, f = kernel.shape
    out, pads = geometry(x.shape[1:3], (kh, kw), strides, padding)
    xp = pad_hw(x, pads)
    if layout is None:
        layout = choose_layout(c, f, xp.shape[1:3], out, tuple(strides))
    elif layout not in LAYOUTS or (layout == "shift" and tuple(strides) != (1, 1)):
        raise ValueError(f"layout must be 'im2col', or 'shift' with strides (1, 1), got {layout!r} "
                         f"with strides {tuple(strides)}")
    if layout == "shift":
        y = shift_forward(np.ascontiguousarray(xp), kernel, out)          # (F, N, Ho, Wo)
        if bias is not None:
            y += bias[:, None, None, None]
        return (y.transpose(1, 2, 3, 0),
                ConvCache(None, xp.shape, pads, (kh, kw), tuple(strides), out, xp=xp))
    cols = im2col(xp, (kh, kw), strides, out)
    y = cols @ kernel.reshape(kh * kw * c, f)
    if bias is not None:
        y += bias
    return y.reshape(x.shape[0], out[0], out[1], f), ConvCache(cols, xp.shape, pads, (kh, kw), strides, out)


def conv2d_backward_fast(dy: np.ndarray, cache: ConvCache, kernel: np.ndarray, dx: bool = True
                         ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(dx or None, dkernel, dbias) from dy (N, Ho, Wo, F), with the cache of the forward.

    im2col: dK = cols^T . dY, dx by col2im, or by the full correlation where that moves less.
    shift: the full correlation's columns of dy serve both gradients, dx = dcols . Kflip and
    dK = xp^T . dcols (the offsets come out flipped, and are flipped back)."""
    kh, kw, c, f = kernel.shape
    d2 = dy.reshape(-1, f)
    db = np.ones(len(d2), dtype=d2.dtype) @ d2       # the sum over rows, as 1^T . dY: BLAS, ~10x sum(axis=0)
    (hp, wp), (ho, wo) = cache.xp_shape[1:3], cache.out
    if cache.layout == "shift":
        dcols = full_columns(dy, (kh, kw), (hp, wp))
        xp = cache.xp
        m = xp.reshape(-1, c).T @ dcols                                   # (C, kh kw F), flipped
        dk = m.reshape(c, kh, kw, f)[:, ::-1, ::-1, :].transpose(1, 2, 0, 3)
        if not dx:
            return None, dk, db
        dxp = full_correlation(dy, kernel, (hp, wp), dcols)
    else:
        dk = (cache.cols.T @ d2).reshape(kernel.shape)
        if not dx:
            return None, dk, db
        if cache.strides == (1, 1) and f * hp * wp < c * ho * wo:
            dxp = full_correlation(dy, kernel, (hp, wp))
        else:
            dxp = col2im(kernel.reshape(kh * kw * c, f) @ d2.T, cache.xp_shape, cache.window,
                         cache.strides, cache.out)
    (top, bottom), (left, right) = cache.pads
    return dxp[:, top:dxp.shape[1] - bottom, left:dxp.shape[2] - right, :], dk, db
