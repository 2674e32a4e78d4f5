"""NIR bridge: lavacut networks <-> the Neuromorphic Intermediate Representation.

NIR (package ``nir``) is the graph format snnTorch, Norse, Sinabs, Rockpool,
Spyx and others exchange trained spiking networks in.

- :mod:`.write`: lavacut (checkpoint or NetX export) -> NIR (:func:`to_nir`,
  :func:`write_nir`);
- :mod:`.read`: NIR -> SLAYER network, data binding (:func:`from_nir`,
  :func:`format_import_report`); :mod:`.importer`: then a NetX export
  (:func:`import_nir`); :mod:`.walk`: the node checks and the walk of the
  chain into layers;
- :mod:`.ops`: Linear / Affine / Conv2d / Flatten / pooling folded into one
  synapse per layer;
- :mod:`.neurons`: CubaLIF / LIF / IF (and LI / CubaLI / I readouts) <->
  Loihi CUBA (the discretisation and what is exact), dt, the shared threshold;
- :mod:`.blocks`: imports beyond a NetSpec (recurrent layers, voltage
  readouts) as SLAYER blocks and their NetX layers.
"""

from lavacut.export.nir.neurons import DEFAULT_DT
from lavacut.export.nir.ops import NirError
from lavacut.export.nir.importer import import_nir
from lavacut.export.nir.read import format_import_report, from_nir, read_nir
from lavacut.export.nir.write import lavacut_metadata, to_nir, write_nir

__all__ = [
    "to_nir",
    "write_nir",
    "read_nir",
    "from_nir",
    "import_nir",
    "format_import_report",
    "NirError",
    "DEFAULT_DT",
    "lavacut_metadata",
]
