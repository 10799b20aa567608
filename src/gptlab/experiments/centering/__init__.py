"""The vector-centering lab: one run (``run``), the suite of variants, sampling text."""
