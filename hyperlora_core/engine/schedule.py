"""When an identity acts during sampling: a step window with optional linear fades, as keyframes.

Percentages run from 0 (first step, most noise) to 1 (last step), as in ComfyUI's start/end inputs.
A fade is a ramp of the LoRA strength; ComfyUI reads a hook's strength as a step function at each
step's noise level, so the ramp is given as keyframes `(percent, multiplier)`: the multiplier holds
from its percent until the next keyframe. Each value is the ramp's mean over its interval, so the
first step of a fade-in is never at zero strength (a zero strength would still cost a weight patch).
"""

from __future__ import annotations

import itertools
import math

FADE_RESOLUTION = 0.01  # one keyframe per 1 % of sampling at most: finer than any practical step count


def _fraction(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a fraction of the sampling steps between 0 and 1; got {value}.")
    return value


def check_window(start: float, end: float, fade_in: float = 0.0, fade_out: float = 0.0) -> tuple[float, ...]:
    """The four fractions as floats; a clear error for NaN, infinity or values outside 0..1."""
    return (_fraction("start_at", start), _fraction("end_at", end), _fraction("fade_in", fade_in),
            _fraction("fade_out", fade_out))


def window_is_empty(start: float, end: float) -> bool:
    """True when the identity would never act (start at or after end)."""
    return start >= end


def ramp(percent: float, start: float, end: float, fade_in: float, fade_out: float) -> float:
    """The strength multiplier (0..1) at `percent` of a window with linear fades at both ends."""
    if percent < start or percent > end:
        return 0.0
    value = 1.0
    if fade_in > 0:
        value = min(value, (percent - start) / fade_in)
    if fade_out > 0:
        value = min(value, (end - percent) / fade_out)
    return max(0.0, value)


def fade_keyframes(start: float, end: float, fade_in: float, fade_out: float,
                   resolution: float = FADE_RESOLUTION) -> list[tuple[float, float]]:
    """Keyframes (percent, multiplier) of the window's fades; [] without fades (constant strength).

    Fades longer than the window are clipped to it; when they overlap, the lower ramp wins.
    """
    start, end, fade_in, fade_out = check_window(start, end, fade_in, fade_out)
    if window_is_empty(start, end) or (fade_in == 0 and fade_out == 0):
        return []
    fade_in, fade_out = min(fade_in, end - start), min(fade_out, end - start)  # a ramp starts at start_at at most
    cuts = {start, end}
    for a, length in ((start, fade_in), (end - fade_out, fade_out)):
        if length > 0:
            pieces = max(1, math.ceil(length / resolution - 1e-9))
            cuts.update(a + length * i / pieces for i in range(pieces + 1))
    cuts = sorted(c for c in cuts if start <= c <= end)
    keyframes: list[tuple[float, float]] = []
    for a, b in itertools.pairwise(cuts):
        value = ramp((a + b) / 2.0, start, end, fade_in, fade_out)
        if not keyframes or not math.isclose(keyframes[-1][1], value, abs_tol=1e-12):
            keyframes.append((a, value))
    return keyframes


def strength_at_sigma(sigma: float, keyframe_sigmas: list[tuple[float, float]]) -> float:
    """The fade multiplier at noise level `sigma`, from keyframes (start sigma, multiplier) in step order.

    ComfyUI's rule for keyframes that hold no step (guarantee_steps 0): a step takes the last keyframe whose
    start it has reached (start sigma >= sigma). Without keyframes the strength is constant (1); before the
    first keyframe (before the window) the identity does not act (0). Sigmas make this independent of the
    sampler, the scheduler and custom sigmas.
    """
    if not keyframe_sigmas:
        return 1.0
    value = 0.0
    for start_sigma, multiplier in keyframe_sigmas:
        if start_sigma >= sigma:
            value = multiplier
        else:
            break
    return value
