"""Fit a camera's recordings to a network's input (``framing.fit``).

A 320x240 DAVIS or DVXplorer recording cannot feed a 34x34 network as it
is. ``framing.fit`` says how to make it fit, with tonic's transforms:

- ``"none"`` (default): the sensor must be the network's size; otherwise
  the refusal names both sizes and the ``--set framing.fit=...`` that fits;
- ``"crop"``: keep a network-sized box of the sensor (tonic ``CenterCrop``,
  or the box ``framing.crop = [x0, y0, w, h]``); the scale stays 1:1;
- ``"resize"``: the whole sensor scaled to the network's size (tonic
  ``Downsample`` with ``sensor_size`` and ``target_size``); a different
  aspect ratio is a non-uniform scale, and the plan's note says so;
- ``"crop+resize"``: first the largest centred box with the network's aspect
  ratio (or ``framing.crop``), then ``Downsample`` to the network's size: a
  uniform scale that loses the sensor's edges instead of distorting.

Scaling maps pixel x to floor(x * w_net / w_box), as tonic's ``Downsample``
does: several camera pixels fall into one network pixel, and a bin spikes
when any of them had an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd

import numpy as np

from lavacut.util import LavacutError

FIT_MODES = ("none", "crop", "resize", "crop+resize")


@dataclass(frozen=True)
class FitPlan:
    """How one sensor ``(W, H, P)`` becomes the network's ``(w, h)``:
    ``box`` (x0, y0, w, h) cut first (None: the whole sensor), then a scale
    to ``target`` (None: no scale). ``centred``: the box is tonic's centre
    crop."""

    mode: str
    sensor: tuple[int, int, int]
    target: tuple[int, int]
    box: tuple[int, int, int, int] | None
    resize: bool
    centred: bool

    @property
    def out_sensor(self) -> tuple[int, int, int]:
        return (self.target[0], self.target[1], self.sensor[2])

    @property
    def scale(self) -> tuple[float, float] | None:
        if not self.resize:
            return None
        w, h = (self.box[2], self.box[3]) if self.box else self.sensor[:2]
        return (self.target[0] / w, self.target[1] / h)

    def inside(self, events: np.ndarray) -> np.ndarray:
        """Per event: inside the crop box (all True without one)."""
        if self.box is None:
            return np.ones(len(events), dtype=bool)
        x0, y0, bw, bh = self.box
        x, y = events["x"].astype(np.int64), events["y"].astype(np.int64)
        return (x >= x0) & (x < x0 + bw) & (y >= y0) & (y < y0 + bh)

    def note(self) -> str:
        """One line a person reads: what was kept and how it was scaled."""
        w, h = self.sensor[:2]
        parts = []
        if self.box is not None:
            x0, y0, bw, bh = self.box
            parts.append(f"{'centre' if self.centred else ''} crop {bw}x{bh} at x={x0}, y={y0}".strip())
        if self.resize:
            sx, sy = self.scale
            bw, bh = (self.box[2], self.box[3]) if self.box else (w, h)
            if abs(sx - sy) < 1e-9:
                parts.append(f"scale {bw}x{bh} -> {self.target[0]}x{self.target[1]} (x{sx:.4g}, uniform)")
            else:
                parts.append(
                    f"scale {bw}x{bh} -> {self.target[0]}x{self.target[1]} NON-UNIFORM (x{sx:.4g} "
                    f"horizontally, x{sy:.4g} vertically: aspect ratio {_ratio(bw, bh)} becomes "
                    f"{_ratio(*self.target)}, shapes are distorted; framing.fit=crop+resize keeps it)"
                )
        return (
            f"framing.fit={self.mode}: camera {w}x{h} -> network {self.target[0]}x{self.target[1]}: "
            + ", then ".join(parts)
        )

    def as_dict(self) -> dict:
        return {
            "mode": self.mode,
            "camera": list(self.sensor),
            "network": list(self.target),
            "crop": None if self.box is None else list(self.box),
            "scale": None if self.scale is None else [float(s) for s in self.scale],
            "note": self.note(),
        }


def _ratio(w: int, h: int) -> str:
    g = gcd(w, h)
    return f"{w // g}:{h // g}"


def _aspect_box(w: int, h: int, tw: int, th: int) -> tuple[int, int, int, int]:
    """The largest centred box of a w x h sensor with the aspect ratio tw:th."""
    if w * th >= h * tw:  # sensor wider than the network: cut the sides
        bw, bh = max(1, round(h * tw / th)), h
    else:  # taller: cut top and bottom
        bw, bh = w, max(1, round(w * th / tw))
    return ((w - bw) // 2, (h - bh) // 2, bw, bh)


def suggest_fit(sensor: tuple[int, int, int], target: tuple[int, int]) -> str:
    """The ``--set`` that fits ``sensor`` to ``target``, with what it does."""
    w, h = sensor[:2]
    tw, th = target
    if w * th == h * tw:
        hint = f"--set framing.fit=resize (scales {w}x{h} to {tw}x{th}, same aspect ratio)"
    else:
        _, _, bw, bh = _aspect_box(w, h, tw, th)
        hint = (
            f"--set framing.fit=crop+resize (centre-crops {bw}x{bh}, the network's aspect ratio, then "
            f"scales it to {tw}x{th})"
        )
    if w >= tw and h >= th:
        hint += f", or --set framing.fit=crop (keeps the central {tw}x{th} pixels at full resolution)"
    return hint


def plan_fit(
    mode: str, crop: tuple[int, ...] | None, sensor: tuple[int, int, int], target: tuple[int, int], source: str
) -> FitPlan | None:
    """The plan that fits ``sensor`` to ``target`` (network W, H) under
    ``mode``; None when nothing is to be done (same size and no crop box)."""
    w, h, _ = sensor
    tw, th = target
    if (w, h) == (tw, th) and crop is None:
        return None
    if mode == "none":
        return None  # the caller refuses the mismatch with suggest_fit's hint
    box, centred = None, False
    if crop is not None:
        x0, y0, bw, bh = (int(v) for v in crop)
        if x0 + bw > w or y0 + bh > h:
            raise LavacutError(
                f"{source}: framing.crop={list(crop)} reaches x={x0 + bw - 1}, y={y0 + bh - 1}, "
                f"outside the camera's {w}x{h} pixels"
            )
        box = (x0, y0, bw, bh)
    if mode == "crop":
        if box is None:
            if w < tw or h < th:
                raise LavacutError(
                    f"{source}: framing.fit=crop cannot cut {tw}x{th} (the network) out of the "
                    f"camera's {w}x{h}; use framing.fit=resize or crop+resize"
                )
            box, centred = ((w - tw) // 2, (h - th) // 2, tw, th), True
        elif box[2:] != (tw, th):
            raise LavacutError(
                f"{source}: framing.crop={list(crop)} is {box[2]}x{box[3]} but framing.fit=crop "
                f"keeps the scale, so the box must be the network's {tw}x{th}; use "
                f"framing.fit=crop+resize to scale the box"
            )
        return FitPlan(mode, sensor, target, box, resize=False, centred=centred)
    if mode == "crop+resize" and box is None:
        box = _aspect_box(w, h, tw, th)
        centred = True
    if box is not None and box[2:] == (tw, th):
        return FitPlan(mode, sensor, target, box, resize=False, centred=centred)
    return FitPlan(mode, sensor, target, box, resize=True, centred=centred)


def apply_fit(events: np.ndarray, plan: FitPlan) -> np.ndarray:
    """Events on ``plan.sensor`` -> events on ``plan.out_sensor``."""
    import tonic.transforms as tt

    if plan.box is not None:
        x0, y0, bw, bh = plan.box
        if plan.centred:
            events = tt.CenterCrop(sensor_size=plan.sensor, size=(bw, bh))(events)
        else:  # tonic crops a box only at random (RandomCrop): the given box by hand
            keep = (events["x"] >= x0) & (events["x"] < x0 + bw) & (events["y"] >= y0) & (events["y"] < y0 + bh)
            events = events[keep].copy()
            events["x"] -= x0
            events["y"] -= y0
    if plan.resize:
        w, h = (plan.box[2], plan.box[3]) if plan.box else plan.sensor[:2]
        events = tt.Downsample(sensor_size=(w, h, plan.sensor[2]), target_size=plan.target)(events)
    return events
