"""Stage 3, export: a checkpoint -> a NetX HDF5 file with lavacut's metadata
(:mod:`.exporter`, :mod:`.slayer_hdf5`); the file and its layer kinds
(:mod:`.netx`), the Loihi 2 target (:mod:`.loihi2`), the one validator
(:mod:`.validate`), ``lavacut inspect``'s report (:mod:`.inspect_report`),
the SLAYER rebuild for verify (:mod:`.rebuild`, with :mod:`lavacut.measure.exactness` beside it), NIR interop (:mod:`.nir`)
and the opened file (:mod:`.artifact`)."""
