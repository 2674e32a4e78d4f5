"""Stage 1, events in.

Events are tonic structured arrays with fields ``x, y, t, p`` (t in
microseconds, sorted); a sample is ``(events, label)``. Framed tensors for
SLAYER are float32 ``(C, H, W, T)`` per sample and ``(N, C, H, W, T)`` in a
batch, lava-dl's layout.
"""
