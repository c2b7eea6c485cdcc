"""Search algorithms as IR-to-IR transforms and the drivers coupling them to training.

    darts.py     supernet(space) -> Model; DartsSupernet (lowered net + alphas); derive(space, alphas)
    bilevel.py   Architect: first / second order (unrolled) architecture gradient and alpha step
    genotype.py  DARTS `Genotype(...)` strings in and out
    driver.py    search_darts / resume_darts: the search loop on nasc.train, run-dir outputs
"""
