"""The grokking lab: one run (``run``), sweeps, the mechanism of a run, the seed's claims."""
