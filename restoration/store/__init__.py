"""The provenance store: the zarr group, run records, the reel lock, fixity checks."""
