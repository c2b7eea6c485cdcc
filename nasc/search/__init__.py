"""Search algorithms as IR-to-IR transforms (DARTS) and the driver coupling them to training."""
