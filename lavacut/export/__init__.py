"""Stage 3, export: NetX HDF5 files with lavacut's metadata, inspection and
SLAYER-vs-Lava verification."""
