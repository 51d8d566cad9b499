"""Reference solution (tests only, not shipped). Exercise: a whole model's backward pass: every piece's backward, in reverse.

Check it with:   scratchae gradcheck --exercise model THIS_FILE.py
"""
import numpy as np


class Model:
    """A chain of pieces: pieces[0] takes the input x, each next piece the previous one's output.

    Every piece has forward(x) -> y and backward(dy) -> dx (dy = dL/dy and dx = dL/dx, each the
    shape of what it differentiates), a `name`, and `params` and `grads`, dicts with the same
    keys (empty for a piece without parameters). A piece's backward ADDS its parameter
    gradients into its own grads (grads[key] += ...), as scratchae's layers do, so that a
    weight two pieces share gets the sum of both. A piece never clears its grads: that is the
    model's job. Before the pieces' backward run, set every grads array to zero, in place
    (g[...] = 0, or g.fill(0)), or the gradients left from the step before are added in too.
    """

    def __init__(self, pieces):
        self.pieces = list(pieces)

    def forward(self, x):
        for piece in self.pieces:                    # each piece caches what its backward needs
            x = piece.forward(x)
        return x

    def backward(self, dy):
        """dy = dL/d(output), the shape of the last piece's output. Return (dx, grads):

            dx     dL/dx for the input x of forward, the shape of x
            grads  {"<piece name>/<key>": a copy of that piece's grads[key]}, for every piece
                   and every key of its params: {"dense/kernel": ..., "dense/bias": ..., ...}

        First zero every piece's grads (in place). Then call each piece's backward once,
        handing it dL/d(its output): for the last piece that is dy; for each other piece, what
        the piece after it returned.
        """
        for piece in self.pieces:                    # the pieces add into grads: start at 0
            for g in piece.grads.values():
                g[...] = 0
        grads = {}
        for piece in reversed(self.pieces):
            dy = piece.backward(dy)
            for key in piece.params:
                grads[f"{piece.name}/{key}"] = piece.grads[key].copy()
        return dy, grads
