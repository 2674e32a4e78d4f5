"""The NetX file: reading and writing it with lavacut's metadata
(:mod:`.file`), what its layers are (:mod:`.inspect`)."""
