"""selfmm: a faithful, observable implementation of Self-MM (Yu et al., AAAI 2021)."""

__version__ = "0.1.0"
