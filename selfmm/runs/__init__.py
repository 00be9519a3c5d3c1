"""The run folder: what one training run leaves on disk, and the only code that writes or reads it.

Modules (no torch import in any of them, at import time or later; the dashboard reads runs without torch):

- :mod:`selfmm.runs.layout`     every file and folder name, ``SCHEMA_VERSION``, the column vocabulary
- :mod:`selfmm.runs.io`         atomic JSON / Parquet / safetensors writes, the metrics append, file hashes
- :mod:`selfmm.runs.provenance` environment, git, time and pid facts recorded in run.json
- :mod:`selfmm.runs.writer`     :class:`~selfmm.runs.writer.RunWriter`, used by the training loop
- :mod:`selfmm.runs.reader`     :class:`~selfmm.runs.reader.RunReader` and :class:`~selfmm.runs.reader.RunError`
- :mod:`selfmm.runs.validate`   checks of run.json and every table against the schema (RunError, or warnings)
- :mod:`selfmm.runs.discovery`  :func:`~selfmm.runs.discovery.list_runs`, one row per run under a folder
- :mod:`selfmm.runs.lock`       the one-writer lock (fcntl) and the heartbeat of a live writer
- :mod:`selfmm.runs.post`       writes after training: projections, annotations of a finished run

``checkpoints/README.md`` documents every file and column.
"""
