"""BLAS threads while training: one where the products are small, more only where they pay.

A training step is a dozen matrix products. Splitting a product over several threads pays
only when it is large, and on a busy machine it can cost far more than it saves: a thread
that must wait for a core the other work holds makes every product wait for it. On these
2-core machines (figures in docs/performance.md#blas-threads; `benchmarks/threads.py` prints
them on yours): below about a million multiply-adds two threads change nothing, from a few
million they are faster on a quiet machine, products with a small batch as their inner
dimension are slower with two, and with one other busy process two threads are several times
slower than one for every model size. So the crossover is CROSSOVER, 4 million multiply-adds,
and above it only timing can tell.

So `fit` trains with one BLAS thread when the step's largest product is under CROSSOVER.
Above it the machine decides, by timing the training steps themselves. After eight steps of
warming up with one thread: four steps with every CPU this process may use, then four with
one thread (the first step after a switch is not
counted: it still pays for threads waking up, or still spinning; and as more threads may
keep spinning for a while after their block, one thread's time is also taken from its
warm-up or its last stretch, whichever is faster); the faster choice (by median) trains for the next 100 steps, then both are timed again, and each time the same
choice wins its stretch doubles, up to 1,600 steps. One thread trains until more threads
are clearly faster, and either choice keeps training until the other is clearly faster (under
0.9 of its time): a burst of noise from the machine's other tenants does not flip it. While a
stretch trains, every eight steps are compared with the loser's time: a winner gone a third
slower than the loser was (the machine changed, or the probe was unlucky: a busy core costs
far more than a third, the noise of a shared machine less) is timed against it again at once.
So a machine that becomes busy is noticed within eight steps, and on a machine that stays busy
the timed steps are a small part of training once the stretches are long.
The next `fit` of the same products starts from where the last one ended (its choice, no
warm-up): a notebook that calls fit one epoch at a time does not pay the timings each time.

Threads change the order of additions inside some products (those summing over more than a
few hundred terms, such as x . kernel of the first layer), so runs that choose differently
agree to float32 rounding, not bit for bit. For bit-for-bit repeatable training, fix the
count (SCRATCHAE_BLAS_THREADS=1).

SCRATCHAE_BLAS_THREADS, read each time training starts (a script may set it in os.environ):

    unset or "auto"   the policy above
    N                 N threads, always
    "default"         NumPy's own setting, untouched

NumPy has no public call for this, so we look for the OpenBLAS that NumPy's wheels bundle and
call its own `set_num_threads` through ctypes. If the user chose a count themselves
(OPENBLAS_NUM_THREADS or OMP_NUM_THREADS in the environment), or NumPy uses another BLAS,
nothing is changed.
"""
from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import statistics
import time
from typing import Callable, Iterable, Iterator, TypeVar


#: multiply-adds of a step's largest product from which more threads may pay (measured above;
#: float32: training counts a float64 product double)
CROSSOVER = 4_000_000
PROBE_STEPS = 4          # timed steps per choice, each time the choices are compared
MARGIN = 0.9             # a challenger must take under 0.9 of the current winner's time
CHANGED = 0.75           # a winner over 1/0.75 of the loser's time: the machine changed
FIRST_STRETCH = 100      # steps the winner then trains, doubling while the same choice wins
LONGEST_STRETCH = 1600
WARM_UP = 8              # steps with one thread before the first timing (caches, waking threads)

_SYMBOLS = (("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
            ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
            ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
            ("openblas_set_num_threads", "openblas_get_num_threads"))
_controls: tuple | None = None
_searched = False
#: (largest product, choices) -> the timed choice's state at the end of the last fit
_remembered: dict[tuple, tuple[int, int, float, float]] = {}
T = TypeVar("T")


def openblas_libraries() -> Iterator[ctypes.CDLL]:
    """The OpenBLAS libraries NumPy's wheels bundle, loaded (none for another BLAS)."""
    import numpy as np

    site = os.path.dirname(os.path.dirname(np.__file__))
    for path in glob.glob(os.path.join(site, "numpy.libs", "*openblas*")) + \
            glob.glob(os.path.join(site, "numpy", ".dylibs", "*openblas*")):
        try:
            yield ctypes.CDLL(path)
        except OSError:
            continue


def _find_controls() -> tuple | None:
    """(set, get) functions of NumPy's bundled OpenBLAS, or None."""
    global _controls, _searched
    if _searched:
        return _controls
    _searched = True
    for lib in openblas_libraries():
        for set_name, get_name in _SYMBOLS:
            setter, getter = getattr(lib, set_name, None), getattr(lib, get_name, None)
            if setter is not None and getter is not None:
                getter.restype = ctypes.c_int
                _controls = (setter, getter)
                return _controls
    return None


def current_threads() -> int | None:
    """The BLAS threads NumPy's bundled OpenBLAS runs now, or None (another BLAS)."""
    controls = _find_controls()
    return None if controls is None else int(controls[1]())


def setting() -> int | str | None:
    """SCRATCHAE_BLAS_THREADS: "auto" (unset), a number of threads, or None for "default".
    ValueError for anything else."""
    value = os.environ.get("SCRATCHAE_BLAS_THREADS", "").strip().lower()
    if value in ("", "auto"):
        return "auto"
    if value == "default":
        return None
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise ValueError(f"SCRATCHAE_BLAS_THREADS must be a number of threads >= 1, 'auto' or "
                     f"'default', got {value!r}")


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                     # macOS, Windows
        return os.cpu_count() or 1


def _user_chose() -> bool:
    return any(v in os.environ for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"))


@contextlib.contextmanager
def threads(count: int | None) -> Iterator[None]:
    """Run the block with `count` BLAS threads (None: leave NumPy's setting), then restore
    the previous count. Does nothing if the user set OPENBLAS_NUM_THREADS/OMP_NUM_THREADS
    or NumPy's BLAS is not a bundled OpenBLAS."""
    controls = None if count is None or _user_chose() else _find_controls()
    if controls is None:
        yield
        return
    setter, getter = controls
    before = int(getter())
    setter(count)
    try:
        yield
    finally:
        setter(before)


class Threads:
    """The BLAS threads of one training run; `timed(batches)` wraps the loop over its steps.

    With a fixed count (or no choice at all: NumPy's setting left alone) `timed` just hands
    the batches through.
    Otherwise it times each step (from handing a batch out to being asked for the next) with
    `clock` (seconds, time.perf_counter unless a test gives its own) and switches between
    `choices` as the module docstring describes; `steps` counts the steps trained with each
    count.
    """

    def __init__(self, choices: tuple[int, ...], setter: Callable[[int], object] | None = None,
                 remembered: tuple[int, int, float, float] | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.choices = choices
        self.clock = clock
        self.steps = {c: 0 for c in choices}
        self._set = setter
        self._current = choices[0] if choices else None      # None: NumPy's own setting
        self._winner = self._current                     # one thread until more clearly win
        self._stretch = FIRST_STRETCH // 2               # doubles to FIRST_STRETCH if kept
        self._left = WARM_UP                             # steps left in the current stretch
        self._plan: list[int] = []                       # the counts of the probe's next steps
        self._samples: dict[int, list[float]] | None = None      # step times while probing
        self._switched = False                           # the count changed before this step
        self._recent: list[float] = []                   # step times of the stretch, by eights
        self._other = float("inf")                       # the loser's time at the last probe
        self._one = float("inf")                         # one thread's step, outside a probe
        if remembered is not None and self.adaptive:
            # what the last fit of the same products decided: train on with it, no warm-up
            self._winner, self._stretch, self._one, self._other = remembered
            self._left = min(self._stretch, FIRST_STRETCH)
            self._use(self._winner)

    @property
    def adaptive(self) -> bool:
        return len(self.choices) > 1 and self._set is not None

    def timed(self, batches: Iterable[T]) -> Iterator[T]:
        if not self.adaptive:
            for batch in batches:
                if self.choices:
                    self.steps[self._current] += 1
                yield batch
            return
        clock = self.clock
        for batch in batches:
            start = clock()
            yield batch
            self._step_done(clock() - start)

    def state(self) -> tuple[int, int, float, float] | None:
        """What the next fit of the same products starts from (None before a decision)."""
        if not self.adaptive or self._other == float("inf"):      # no probe has finished
            return None
        return self._winner, self._stretch, self._one, self._other

    def _use(self, count: int) -> None:
        if count != self._current:
            self._set(count)
            self._current, self._switched = count, True

    def _probe(self) -> None:
        """Time a block of PROBE_STEPS steps with each choice, the current one last."""
        self._samples = {c: [] for c in self.choices}
        order = sorted(self.choices, key=lambda c: c == self._current)
        self._plan = [c for c in order for _ in range(PROBE_STEPS)]
        self._use(self._plan.pop(0))

    def _step_done(self, seconds: float) -> None:
        self.steps[self._current] += 1
        if self._samples is None:                   # warming up, or training a stretch
            self._left -= 1
            self._recent.append(seconds)
            if len(self._recent) == PROBE_STEPS * 2 or self._left <= 0:
                now = statistics.median(self._recent[len(self._recent) // 2:])
                if self._current == 1:
                    self._one = now                 # one thread, measured in a quiet moment
                # the winner gone clearly slower than the other was: the machine changed
                # (or the probe was unlucky), so time both again now, from a short stretch
                if CHANGED * now > self._other:
                    self._stretch, self._left = FIRST_STRETCH // 2, 0
                self._recent = []
            if self._left <= 0:
                self._probe()
            return
        # the first step of a block is not counted: it still pays for the switch (threads
        # that wake up, or that still spin after the other count's last product)
        if self._switched:
            self._switched = False
        else:
            self._samples[self._current].append(seconds)
        if self._plan:
            self._use(self._plan.pop(0))
            return
        times = {c: statistics.median(self._samples[c]) for c in self.choices}
        # one thread's steps right after the other count's can be slowed by its threads,
        # still spinning: its time from the warm-up or its last stretch counts too
        if 1 in times:
            times[1] = min(times[1], self._one)
        best = min(times, key=times.get)
        if best != self._winner and times[best] > MARGIN * times[self._winner]:
            best = self._winner                     # not clearly faster: noise, keep the winner
        self._stretch = FIRST_STRETCH if best != self._winner else \
            min(2 * self._stretch, LONGEST_STRETCH)
        self._winner, self._samples, self._left = best, None, self._stretch
        self._other = min(t for c, t in times.items() if c != best)
        self._recent = []
        self._use(best)


#: The clock `fit`'s timed choice reads (seconds): tests put one there that they drive, so
#: the choice never depends on how busy the machine running them is.
step_clock: Callable[[], float] = time.perf_counter


@contextlib.contextmanager
def for_training(largest_product: int, clock: Callable[[], float] | None = None) -> Iterator[Threads]:
    """The BLAS threads of a training run whose largest product has `largest_product`
    multiply-adds, set for the block and restored after it (see the module docstring). Its
    steps are timed with `clock` (default: `step_clock`, time.perf_counter)."""
    choice = setting()
    controls = None if choice is None or _user_chose() else _find_controls()
    if controls is None:
        yield Threads(())
        return
    setter, getter = controls
    most = min(usable_cpus(), int(getter()))
    if choice != "auto":
        choices: tuple[int, ...] = (choice,)
    elif largest_product < CROSSOVER or most < 2:
        choices = (1,)
    else:
        choices = (1, most)
    key = (largest_product, choices)
    with threads(choices[0]):                   # NumPy's count back afterwards
        timed = Threads(choices, setter if len(choices) > 1 else None, _remembered.get(key),
                        clock if clock is not None else step_clock)
        try:
            yield timed
        finally:
            if timed.state() is not None:
                _remembered[key] = timed.state()
