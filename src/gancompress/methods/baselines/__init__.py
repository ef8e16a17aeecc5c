"""The Table 1 baselines (rows c–n), one strategy per file; registered in ``METHODS`` by ``gancompress.methods``."""
