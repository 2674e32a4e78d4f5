"""A NetX file rebuilt in SLAYER, for ``lavacut verify``: the rebuild
(:mod:`.slayer`) and why Lava and it could differ (:mod:`.exactness`)."""
