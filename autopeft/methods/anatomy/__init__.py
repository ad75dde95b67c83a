"""Where things are in a model family, as data (torch-free).

`resolve(config)` gives the `Anatomy` of a backbone from its config dict; a family that is not
in the table can be described in the space file (`anatomy:` block, see `describe.py`).
"""

from autopeft.methods.anatomy.dims import BackboneDims, dims_from_config
from autopeft.methods.anatomy.families import FAMILIES, Anatomy, resolve

__all__ = ["Anatomy", "BackboneDims", "FAMILIES", "dims_from_config", "resolve"]
