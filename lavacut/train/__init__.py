"""Stage 2, training: SLAYER CUBA networks that NetX loads back bit-exactly
(:mod:`lavacut.train.networks`), task losses on the output spike counts
(:mod:`lavacut.train.losses`) and the RCS regulariser
(:mod:`lavacut.train.rcs`), all as specified in ``docs/method.md``.
"""
