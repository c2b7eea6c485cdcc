"""Search algorithms as strategies over one run layer, and the IR transforms they use.

    registry.py         the algorithms by name (built-ins in one table, plugins by entry point)
    strategy.py         SearchStrategy: what an algorithm provides (prepare, search -> outcome)
    scaffold.py         run_search / resume_search: the shared run layer (space, run dir, outputs)
    executor.py         jobs in process or as Ray tasks, with retries; failures recorded
    pareto.py           non-dominated front, lower convex hull, epsilon band over any cost axis
    space.py            the space at search size, fitted to the data
    darts.py            pure IR: supernet(space), derive(space, alphas)
    darts_supernet.py   DartsSupernet: the lowered supernet plus its alphas (torch)
    bilevel.py          Architect: first / second order (unrolled) architecture gradient and step
    darts_search.py     the DARTS strategy
    random.py           pure IR: sample(space, rng), from_choices(space, picks)
    random_search.py    the random-search strategy
    genotype.py         DARTS `Genotype(...)` strings in and out
"""
