"""Reference solution (tests only, not shipped). Exercise: the backward pass of max pooling (Keras's MaxPooling2D, channels last).

Check it with:   scratchae gradcheck --exercise maxpool THIS_FILE.py
"""
import numpy as np


class MaxPooling2D:
    """y[n, i, j, c] = max over a, b in {0, 1} of x[n, 2 i + a, 2 j + b, c]

    x (N, H, W, C), y (N, H // 2, W // 2, C): pool 2x2, stride 2, 'valid' padding, each channel
    on its own. With H or W odd, the last row or column is in no window (Keras's 'valid').
    """

    def forward(self, x):
        self.x = x                                   # backward needs to know where each max was
        n, h, w, c = x.shape
        ho, wo = h // 2, w // 2
        windows = x[:, :2 * ho, :2 * wo, :].reshape(n, ho, 2, wo, 2, c)
        return windows.max(axis=(2, 4))

    def backward(self, dy):
        """dy = dL/dy, shape (N, H // 2, W // 2, C). Return dL/dx, shape (N, H, W, C).

        To derive: y[n, i, j, c] depends on the one input of its window that is the max (the
        arg-max); the other three do not move it. So each dy[n, i, j, c] goes, whole, to the
        arg-max of its window, and every other input (and the row or column in no window) gets 0.
        Ties: when several inputs of a window equal its max, the FIRST of them in row-major
        window order ((0, 0), (0, 1), (1, 0), (1, 1)) gets it all, as np.argmax picks and as
        scratchae's layer does. The graded random inputs have no ties; the case by hand has.
        """
        n, h, w, c = self.x.shape
        ho, wo = h // 2, w // 2
        cells = (self.x[:, :2 * ho, :2 * wo, :].reshape(n, ho, 2, wo, 2, c)
                 .transpose(0, 1, 3, 5, 2, 4).reshape(n, ho, wo, c, 4))
        win = np.argmax(cells, axis=-1)                        # the first max, row-major
        onehot = (np.arange(4) == win[..., None]) * dy[..., None]
        dx = np.zeros(self.x.shape)
        dx[:, :2 * ho, :2 * wo, :] = (onehot.reshape(n, ho, wo, c, 2, 2)
                                      .transpose(0, 1, 4, 2, 5, 3).reshape(n, 2 * ho, 2 * wo, c))
        return dx
