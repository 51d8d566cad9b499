"""Reference solution (tests only, not shipped). Exercise: the sigmoid and binary cross-entropy fused into one loss on the logits.

Check it with:   scratchae gradcheck --exercise bce-logits THIS_FILE.py
"""
import numpy as np


class BCEFromLogits:
    """L = -(1 / (N D)) sum_{n,j} [ y log p + (1 - y) log(1 - p) ],  p = sigmoid(z).

    z (N, D): the last layer's logits (any real numbers, before the sigmoid); y (N, D): targets
    in [0, 1]. The forward never forms log(p), so it is exact for any finite z:
        -[y log p + (1 - y) log(1 - p)] = softplus(z) - y z,  softplus(z) = max(z, 0) + log(1 + e^-|z|)
    """

    def forward(self, z, y):
        self.z, self.y = z, y                        # backward needs both
        softplus = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
        return float(np.mean(softplus - y * z))

    def backward(self):
        """Return dL/dz, shape (N, D), the same shape as z.

        To derive: chain binary cross-entropy's dL/dp with the sigmoid's dp/dz = p (1 - p),
        elementwise, and simplify (something cancels). Or differentiate softplus(z) - y z
        directly. Then the mean's 1/(N D).
        """
        p = np.where(self.z >= 0, 1.0 / (1.0 + np.exp(-np.abs(self.z))),
                     np.exp(-np.abs(self.z)) / (1.0 + np.exp(-np.abs(self.z))))
        return (p - self.y) / self.z.size
