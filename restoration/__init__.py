"""Film restoration library: reel I/O, damage simulation, detection, inpainting and provenance.

The library knows nothing of Prefect; ``flows/`` orchestrates it.
"""

__version__ = "0.1.0"
