"""The point-in-time dataset: as-of joins, base frame, labels, the build (``dataset.build``), the
training cache (``dataset.cache`` reader, ``dataset.cache_writer``), normalisation, the loader
and the walk-forward splits. Import the module you need: the package imports none of them, so
reading a cache does not load the builder."""
