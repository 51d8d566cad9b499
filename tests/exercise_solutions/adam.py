"""Reference solution (tests only, not shipped). Exercise: the Adam update, in the form Keras (and the article) trains with.

Check it with:   scratchae gradcheck --exercise adam THIS_FILE.py
"""
import math

import numpy as np


class Adam:
    """Adam (Kingma and Ba, 2015), Keras's defaults. The paper's step t = 1, 2, ... for a
    parameter with gradient g, its own m and v starting at zeros of its shape:

        m <- beta_1 m + (1 - beta_1) g                 m_hat = m / (1 - beta_1^t)
        v <- beta_2 v + (1 - beta_2) g^2               v_hat = v / (1 - beta_2^t)
        param <- param - learning_rate m_hat / (sqrt(v_hat) + eps)

    The graded form is Keras's "epsilon hat" form: the two corrections folded into one step size,
        param <- param - a_t m / (sqrt(v) + epsilon)
    (multiply the paper's fraction, top and bottom, by sqrt(1 - beta_2^t): what is a_t?)
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.learning_rate, self.beta_1, self.beta_2 = learning_rate, beta_1, beta_2
        self.epsilon = epsilon
        self.iterations = 0              # steps taken so far: the next step is t = iterations + 1
        self.momentums = {}              # m of each parameter, keyed by its path
        self.velocities = {}             # v of each parameter, keyed by its path

    def apply(self, parameters):
        """One step. `parameters` is a list of (path, param, grad) triples: path a string such
        as 'dense/kernel', param and grad float arrays of one shape.

        Update every param *in place* (param -= ..., or param[...] = ...: the caller keeps its
        array), keep m and v per path (a new path starts from zeros of its shape), and count
        the step once, however many parameters the list holds.
        """
        self.iterations += 1
        t = self.iterations
        a_t = self.learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        for path, param, grad in parameters:
            m = self.momentums.setdefault(path, np.zeros_like(param))
            v = self.velocities.setdefault(path, np.zeros_like(param))
            m[...] = self.beta_1 * m + (1 - self.beta_1) * grad
            v[...] = self.beta_2 * v + (1 - self.beta_2) * grad * grad
            param -= a_t * m / (np.sqrt(v) + self.epsilon)
