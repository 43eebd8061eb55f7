"""fisherlab: reference implementation of *Catastrophic Fisher Explosion: Early Phase Fisher
Matrix Impacts Generalization* (Jastrzebski et al., ICML 2021).

Modules, one job each: ``data`` (tensors), ``models`` (architectures), ``estimators``
(Tr(F), Tr(F^B), Tr(H)), ``penalties`` (FP, GP, GPr, GPx), ``config`` (validated run configs),
``training`` (one run: loop, checkpoints, divergence), ``runs`` (the run store), ``plots``.
"""

__version__ = "0.1.0"
