"""``conv``: a 2-D convolution of CUBA LIF neurons, (C, H, W) in and out
(netx's Conv); SLAYER's ``cuba.Conv``."""

from __future__ import annotations

import numpy as np

from lavacut.export.netx.layers.base import Connectivity, LayerInfo, SupportState
from lavacut.export.netx.layers.synaptic import SynapticKind
from lavacut.export.netx.file import values


def conv_pair(g, name: str, default: int) -> tuple[int, int]:
    """A conv attribute of a NetX layer group as (y, x); ``default`` when absent."""
    v = np.atleast_1d(values(g[name])) if name in g else np.array([default])
    return (int(v[0]), int(v[-1]))


def _taps_in_range(n_out: int, n_in: int, k: int, s: int, p: int, d: int) -> np.ndarray:
    """Per kernel tap j (0..k-1): how many of the n_out output positions put
    it on a real input (0 <= o*s - p + j*d < n_in), i.e. not on padding."""
    o = np.arange(n_out)[:, None] * s - p + np.arange(k)[None, :] * d
    return ((o >= 0) & (o < n_in)).sum(axis=0)


class Conv(SynapticKind):
    name = "conv"
    image = True
    bias_shape = (-1, 1, 1, 1)

    def synapses(self, g, w: np.ndarray, shape: tuple, prev_shape: tuple | None, stored: int) -> int:
        """Every nonzero kernel weight times the output positions where its
        tap lands on a real input (padding taps are not synapses); the same
        definition as dense layers (nonzero weights) and as
        :func:`lavacut.cutoff.synops.conv_fan_out`. Full kernel windows when
        the input size is unknown."""
        if len(shape) != 3:
            return stored
        kh, kw = w.shape[2], w.shape[3]
        nz = w.reshape(w.shape[0], -1, kh, kw) != 0
        if prev_shape is None or len(prev_shape) != 3:
            return int(nz.sum()) * int(np.prod(shape[1:]))
        (sy, sx), (py, px), (dy, dx) = (
            conv_pair(g, "stride", 1),
            conv_pair(g, "padding", 0),
            conv_pair(g, "dilation", 1),
        )
        vy = _taps_in_range(shape[1], prev_shape[1], kh, sy, py, dy)
        vx = _taps_in_range(shape[2], prev_shape[2], kw, sx, px, dx)
        return int((nz * vy[None, None, :, None] * vx[None, None, None, :]).sum())

    def bias_issue(self, L: LayerInfo, g) -> str:
        if "bias" not in g:
            return ""
        b = np.asarray(values(g["bias"]))  # netx: one value per output channel ((C,) of the (C, H, W) layer)
        return "" if b.ndim == 1 and b.size == L.shape[0] else "a conv bias that is not one value per channel"

    def connection_issue(self, L: LayerInfo, g, state: SupportState) -> str:
        prev = state.prev
        if "delay" in g:
            return "axonal delays on a conv layer: netx 0.6.0 ignores them, so Lava would not compute them"
        if prev is None and not state.have_shape:
            return "a conv first layer without an input layer giving the frame shape"
        if prev is None and len(state.frame_shape) != 3:
            return f"a conv layer after a flat input layer of shape {state.frame_shape} (netx needs (C, H, W))"
        if prev is not None and (state.flat or len(prev.shape) != 3 or not state.prev_kind.image):
            return f"conv after the flat layer {prev.index} ({prev.type})"
        return ""

    def weight_shape_problem(self, g, shape: tuple, prev: tuple | None) -> str:
        ws = tuple(g["weight"].shape)
        if len(ws) == 5 and ws[-1] == 1:  # lava-dl may write a trailing 1
            ws = ws[:4]
        groups = int(np.asarray(values(g["groups"])).reshape(-1)[0]) if "groups" in g and g["groups"].size else 1
        if len(ws) != 4:
            return (
                f"weight: a conv weight of shape {tuple(g['weight'].shape)}; netx needs (out channels, in "
                f"channels, kernel y, kernel x)"
            )
        if len(shape) != 3 or ws[0] != shape[0]:
            return f"weight: a conv weight of {ws[0]} output channels for a layer of shape {list(shape)} (C, H, W)"
        if groups < 1 or ws[0] % groups:
            return f"groups: {groups} does not divide the weight's {ws[0]} output channels into groups"
        if prev is not None and len(prev) == 3 and ws[1] * groups != prev[0]:
            return f"weight: a conv weight reading {ws[1] * groups} channels after a layer of shape {list(prev)}"
        return self.field_problem(g, ws, groups) or self.output_problem(g, ws, shape, prev)

    @staticmethod
    def field_problem(g, ws: tuple, groups: int) -> str:
        """Conv settings out of range, and the fields netx ignores (it reads
        the kernel and channels from the weight) that contradict it: which
        one the network meant is unknown, so the file is refused."""
        missing = [name for name in ("stride", "padding", "dilation", "groups") if name not in g]
        if missing:  # netx reads each of them (a KeyError when building without)
            return f"{missing[0]}: missing (netx reads stride, padding, dilation and groups of every conv layer)"
        for name, lo in (("stride", 1), ("dilation", 1), ("padding", 0), ("kernelSize", 1)):
            if name in g and (np.atleast_1d(values(g[name])) < lo).any():
                return f"{name}: {np.atleast_1d(values(g[name])).tolist()}, not {'positive' if lo else 'non-negative'}"
        for name, want, what in (
            ("kernelSize", (ws[2], ws[3]), "the weight's kernels are"),
            ("inChannels", ws[1] * groups, "the weight reads (x groups)"),
            ("outChannels", ws[0], "the weight has"),
        ):
            if name not in g:
                continue
            got = conv_pair(g, name, 0) if name == "kernelSize" else int(np.atleast_1d(values(g[name]))[0])
            if got != want:
                return f"{name}: {list(got) if name == 'kernelSize' else got}, but {what} {want} (netx ignores {name} and uses the weight)"
        return ""

    @staticmethod
    def output_problem(g, ws: tuple, shape: tuple, prev: tuple | None) -> str:
        """The layer's (C, H, W) against what the convolution of the layer
        before makes of it (netx refuses the mismatch when building)."""
        if prev is None or len(prev) != 3:
            return ""
        (sy, sx), (py, px), (dy, dx) = (conv_pair(g, n, d) for n, d in (("stride", 1), ("padding", 0), ("dilation", 1)))
        out = [
            (n + 2 * p - d * (k - 1) - 1) // s + 1
            for n, k, s, p, d in ((prev[1], ws[2], sy, py, dy), (prev[2], ws[3], sx, px, dx))
        ]
        if min(out) < 1 or tuple(out) != tuple(shape[1:]):
            return (
                f"shape: {list(shape)}, but a {ws[2]}x{ws[3]} kernel (stride {(sy, sx)}, padding {(py, px)}, "
                f"dilation {(dy, dx)}) over the layer before of shape {list(prev)} makes {[ws[0], *out]}"
            )
        return ""

    def fan_in_rows(self, L: LayerInfo, w: np.ndarray) -> np.ndarray:
        """(output channels, kernel): one channel's summed kernel bounds its neurons' input."""
        return w.reshape(w.shape[0], -1)

    def connectivity(self, L: LayerInfo, g, prev_shape: tuple | None) -> Connectivity | str:
        """Cut into contiguous ranges of output positions (row-major) with all
        channels of a position on one core, so each core reads only its
        input window."""
        if len(L.shape) != 3 or prev_shape is None or len(prev_shape) != 3:
            return "a conv layer without a (C, H, W) input before it: its connections (and cores) cannot be worked out"
        w = np.asarray(values(g["weight"]), dtype=np.float64)
        w = w.reshape(w.shape[:4])  # lava-dl writes (C', C/groups, kh, kw) or with a trailing 1
        co, cig, kh, kw = w.shape
        C, H, W = L.shape
        ci, hi, wi = prev_shape
        groups = int(np.atleast_1d(values(g["groups"]))[0]) if "groups" in g else 1
        (sy, sx), (py, px), (dy, dx) = (
            conv_pair(g, "stride", 1),
            conv_pair(g, "padding", 0),
            conv_pair(g, "dilation", 1),
        )
        nz = w != 0
        rows = np.arange(H)[:, None] * sy - py + np.arange(kh)[None, :] * dy  # (H, kh) input rows
        cols = np.arange(W)[:, None] * sx - px + np.arange(kw)[None, :] * dx
        vy, vx = (rows >= 0) & (rows < hi), (cols >= 0) & (cols < wi)
        taps = nz.sum(axis=(0, 1)).astype(np.float64)  # (kh, kw) over all channels
        syn = np.einsum("ab,ya,xb->yx", taps, vy, vx).reshape(-1).astype(np.int64)
        # input channels any output channel of the core reads (all channels are on every core)
        grp_in = nz.any(axis=(2, 3))  # (co, cig)
        ch_used = np.zeros(ci, bool)
        per_group = co // max(groups, 1)
        for gi in range(groups):
            ch_used[gi * cig : (gi + 1) * cig] |= grp_in[gi * per_group : (gi + 1) * per_group].any(axis=0)

        chans = np.flatnonzero(ch_used)

        def in_mask(lo, hi_):
            """Inputs read by output positions lo..hi_-1 (row-major): a partial
            first row, whole middle rows, a partial last row."""
            m = np.zeros((ci, hi, wi), bool)
            if hi_ <= lo:
                return m.reshape(-1)
            y0, y1 = lo // W, (hi_ - 1) // W
            if y0 == y1:
                pieces = [(y0, y0, lo % W, (hi_ - 1) % W)]
            else:
                pieces = [(y0, y0, lo % W, W - 1), (y0 + 1, y1 - 1, 0, W - 1), (y1, y1, 0, (hi_ - 1) % W)]
            for ya, yb, xa, xb in pieces:
                if yb < ya:
                    continue
                r = rows[ya : yb + 1][vy[ya : yb + 1]]
                c = cols[xa : xb + 1][vx[xa : xb + 1]]
                if r.size and c.size and chans.size:
                    m[np.ix_(chans, np.unique(r), np.unique(c))] = True
            return m.reshape(-1)

        return Connectivity(H * W, C, syn, in_mask, ci * hi * wi)

    def rebuild(self, L: LayerInfo, g, npar: dict, where: str):
        import torch

        from lavacut.export.netx.layers.blocks import q64, slayer
        from lavacut.fixed_point import W_SCALE
        from lavacut.util import LavacutError

        w = np.asarray(values(g["weight"])).astype(int)
        w = w.reshape(w.shape[:4] + (1,))  # (out, in / groups, kH, kW, 1)
        groups = int(np.asarray(values(g["groups"])).reshape(-1)[0]) if "groups" in g else 1
        block = slayer.block.cuba.Conv(
            npar,
            w.shape[1] * groups,
            w.shape[0],
            conv_pair(g, "kernelSize", 1),
            stride=conv_pair(g, "stride", 1),
            padding=conv_pair(g, "padding", 0),
            dilation=conv_pair(g, "dilation", 1),
            groups=groups,
            pre_hook_fx=q64,
            delay_shift=False,
        )
        if tuple(block.synapse.weight.shape) != w.shape:
            raise LavacutError(
                f"{where}: conv weight {w.shape} does not fit the layer's synapse {tuple(block.synapse.weight.shape)}"
            )
        block.synapse.weight.copy_(torch.from_numpy(w / W_SCALE))
        return block


CONV = Conv()

#: registered in lavacut.export.netx.layers.KINDS
KIND = CONV
