"""A NetX file rebuilt in SLAYER, computing what Lava runs (``lavacut
verify``, the torch engine): which network (:mod:`.network`), the
layer-by-layer rebuild (:mod:`.slayer`) and why Lava and it could differ
(:mod:`.exactness`)."""
