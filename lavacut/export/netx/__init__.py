"""The NetX file: reading and writing it with lavacut's metadata
(:mod:`.file`), its layer kinds (:mod:`.layers`) and what its layers are
(:mod:`.inspect`)."""
