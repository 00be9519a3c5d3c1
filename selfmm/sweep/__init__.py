"""Seeds, experiments and hyper-parameter sweeps on one engine (local, or Ray Tune from a laptop to a cluster).

- :mod:`selfmm.sweep.engine`: jobs (one selfmm run folder each), the local and Ray engines;
- :mod:`selfmm.sweep.spaces`: search spaces (MMSA's Self-MM space, JSON files), sampling;
- :mod:`selfmm.sweep.tune`: ``python -m selfmm tune`` (search state, resume);
- :mod:`selfmm.sweep.results`: the per-sweep results table (CSV, Markdown).

Importing this package does not import torch or ray.
"""
