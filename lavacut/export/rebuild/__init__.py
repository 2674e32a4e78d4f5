"""A NetX file rebuilt in SLAYER, computing what Lava runs (``lavacut
verify``, the torch engine): which network (:mod:`.network`) and the
layer-by-layer rebuild (:mod:`.slayer`); why Lava and it could differ is
:mod:`lavacut.measure.exactness`."""
