"""Random signs for the stochastic learners' kernels (UORO, KF-RTRL, R-KF-RTRL), from a generator held as one
uint64 in the learner's state: SplitMix64 (Steele, Lea and Flood 2014, "Fast splittable pseudorandom number
generators", OOPSLA; the mixing function of Vigna's seeding of xoshiro), each 64-bit output giving 64
independent signs, one per bit.

Why not numpy's Generator in the state: numba boxes and unboxes a Generator at every call of a kernel that
takes one (measured here: about 15 us for a Generator alone, about 140 us per call of UORO's chunk kernel),
which at the bench's chunks of 100 steps was a third of UORO's time per step. One uint64 array costs nothing
to pass, and one draw gives a whole step's signs.

The state is seeded from the learner's seed through numpy's SeedSequence, so the same seed gives the same
signs in any process; `reseed` does it in place (the `gradient` reuse path).
"""
from __future__ import annotations

import numpy as np

from rnnlearn.jit import internal

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _ONE = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(1)


def sign_state(seed: int) -> np.ndarray:
    """A fresh generator state (uint64 array of one entry) from `seed`."""
    return np.random.SeedSequence(int(seed)).generate_state(1, np.uint64).copy()


def reseed(state: np.ndarray, seed: int) -> None:
    """Put `state` back to what sign_state(seed) returns, in place."""
    state[:] = sign_state(seed)


@internal(cache=True)
def next_word(state):
    """The next 64 random bits (SplitMix64: advance by the golden ratio, then two xor-shift-multiply rounds)."""
    z = state[0] + _GOLDEN
    state[0] = z
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@internal(cache=True)
def fill_signs(state, out, k):
    """out[:k] = independent random signs +-1.0, bit j of word j // 64 giving sign j (ceil(k / 64) draws)."""
    j = 0
    while j < k:
        w = next_word(state)
        top = min(k - j, 64)
        for b in range(top):
            out[j + b] = 1.0 - 2.0 * np.float64((w >> np.uint64(b)) & _ONE)
        j += top


@internal(cache=True)
def draw_sign(state):
    """One random sign +-1.0 (one draw; for steps that need a couple of signs, fill_signs wastes fewer bits)."""
    return 1.0 - 2.0 * np.float64(next_word(state) & _ONE)
