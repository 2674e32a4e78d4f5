"""Bytes an ``evaluate`` SLAYER shard sends back to the driver, spikes as
uint8 arrays vs bit-packed (:func:`lavacut.pipelines.shards.pack_spikes`),
side by side, and whether the unpacked arrays are the same (a measurement,
not a test).

    .venv/bin/python sims/shard_transfer.py [--net netx_exports/embedded_dense.net] [--workers 2]

Each shard's part of evaluate's recorded pass (output spikes and every
hidden layer's) runs here, one after the other, and its result is pickled
as the local executor's pipe pickles it (a Ray worker's object store holds
about the arrays' bytes).
"""

from __future__ import annotations

import argparse
import pickle

import numpy as np

from lavacut.pipelines.run import RunRequest, open_run
from lavacut.pipelines.shards import batch_shards, forward_part, unpack_spikes
from lavacut.train.inference import forward


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--net", default="netx_exports/embedded_dense.net")
    ap.add_argument("--split", default="test")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    export, cfg, split, _ = open_run(RunRequest(args.net, split=args.split))
    data = export.frames(cfg, split, 0, progress=False)  # 0: every sample of the split
    net = export.slayer_net()
    kwargs = {"record": True, "readout": False}  # as evaluate's pass
    total_raw = total_packed = 0
    same = True
    print(f"{args.net}, {split} split: {len(data.frames)} samples, frames {data.frames.shape}, {args.workers} shards")
    for b, lo, hi in batch_shards(len(data.frames), args.workers):
        frames = data.frames[lo:hi]
        raw = forward(net, frames, first_batch=b, batch_size=64, **kwargs)
        packed = forward_part(net, frames, b, kwargs)
        n_raw = len(pickle.dumps(("ok", raw), protocol=pickle.HIGHEST_PROTOCOL))
        n_packed = len(pickle.dumps(("ok", packed), protocol=pickle.HIGHEST_PROTOCOL))
        same &= np.array_equal(unpack_spikes(packed[0]), raw[0]) and all(
            np.array_equal(unpack_spikes(p), r) for p, r in zip(packed[1], raw[1])
        )
        shapes = ", ".join(str(a.shape) for a in [raw[0], *raw[1]])
        print(f"  samples {lo}..{hi - 1} ({shapes}): uint8 {n_raw:>11,} B   packed {n_packed:>10,} B")
        total_raw, total_packed = total_raw + n_raw, total_packed + n_packed
    print(
        f"  total: uint8 {total_raw:,} B, packed {total_packed:,} B: {total_raw / total_packed:.2f}x fewer; "
        f"unpacked arrays identical: {same}"
    )


if __name__ == "__main__":
    main()
