"""Label generators: where the Self-MM heads' unimodal targets and loss weights come from.

:mod:`selfmm.labels.base` defines the contract (:class:`LabelGenerator`, :class:`LabelSnapshot`) and
:func:`build_generator`; :mod:`selfmm.labels.ulgm` is Self-MM's ULGM, :mod:`selfmm.labels.fixed` the ``human`` and
``multimodal`` sources, :mod:`selfmm.labels.plgm` CMC's PLGM adapted to Self-MM (``plgm``).
"""

from selfmm.labels.base import GENERATORS, LabelGenerator, LabelSnapshot, build_generator

__all__ = ["GENERATORS", "LabelGenerator", "LabelSnapshot", "build_generator"]
