"""CMC (Zhong et al., "Calibrating Multimodal Consensus for Emotion Recognition"), faithful to gw-zhong/CMC ee0c296.

- :mod:`selfmm.cmc.config`  :class:`CMCConfig`, per-dataset presets (README commands) and ``tiny``
- :mod:`selfmm.cmc.model`   unimodal encoders + residual 3-class heads, PFM and MCR (:class:`CMCModel`)
- :mod:`selfmm.cmc.losses`  SupCon (cross-modal, binarised classes)
- :mod:`selfmm.cmc.metrics` CMC's 3-class metrics (Acc_3, F1_3, Has0_*, Non0_*)
- :mod:`selfmm.cmc.train`   phase 1 (PLGM pretraining with EMA teachers), phase 2 (PFM + MCR), the run folder

PLGM's math lives in :mod:`selfmm.labels.plgm` (one home), shared with the Self-MM ``plgm`` label source.
"""
