"""Loads the authors' reference code, MMSA 2.2.1 (PyPI, MIT), installed by ``tests/reference_setup.sh``.

Two modules of MMSA are loaded by file location under a private package name (``_mmsa_ref``) with stub parent
packages, because MMSA's package ``__init__`` imports its whole model zoo (and with it the legacy
``pytorch_transformers`` and ``pynvml``): ``trains/multiTask/SELF_MM.py`` and ``utils/metricsTop.py``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch

PKG = "_mmsa_ref"


def _load(modname: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    return mod


def load_reference():
    """The reference modules ``(SELF_MM class, MetricsTop class)``; fails with the fix if MMSA is absent."""
    spec = importlib.util.find_spec("MMSA")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the reference package MMSA is not installed: run `bash tests/reference_setup.sh`")
    version = importlib.metadata.version("MMSA")
    if version != "2.2.1":
        pytest.fail(f"MMSA {version} installed, the equivalence tests need 2.2.1: run `bash tests/reference_setup.sh`")
    root = Path(spec.submodule_search_locations[0])
    if f"{PKG}.trains.multiTask.SELF_MM" not in sys.modules:
        for name, sub in ((PKG, root), (f"{PKG}.trains", root / "trains"), (f"{PKG}.utils", root / "utils")):
            pkg = types.ModuleType(name)
            pkg.__path__ = [str(sub)]
            sys.modules[name] = pkg
        mt = types.ModuleType(f"{PKG}.trains.multiTask")
        mt.__path__ = [str(root / "trains" / "multiTask")]
        sys.modules[mt.__name__] = mt
        metrics_mod = _load(f"{PKG}.utils.metricsTop", root / "utils" / "metricsTop.py")
        utils = sys.modules[f"{PKG}.utils"]
        utils.MetricsTop = metrics_mod.MetricsTop
        utils.dict_to_str = lambda d: " ".join(f"{k}: {v:.4f}" for k, v in d.items())  # logging only
        _load(f"{PKG}.trains.multiTask.SELF_MM", root / "trains" / "multiTask" / "SELF_MM.py")
    return (
        sys.modules[f"{PKG}.trains.multiTask.SELF_MM"].SELF_MM,
        sys.modules[f"{PKG}.utils.metricsTop"].MetricsTop,
    )


def load_reference_model():
    """MMSA's SELF_MM model class, loaded by file with a BertTextEncoder that skips ``from_pretrained``."""
    import importlib.util
    import sys
    import types
    from pathlib import Path

    spec = importlib.util.find_spec("MMSA")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the reference package MMSA is not installed: run `bash tests/reference_setup.sh`")
    root = Path(spec.submodule_search_locations[0]) / "models"
    pkg = "_mmsa_model_ref"
    if f"{pkg}.models.multiTask.SELF_MM" in sys.modules:
        return sys.modules[f"{pkg}.models.multiTask.SELF_MM"].SELF_MM

    def load(name, path):
        s = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(s)
        sys.modules[name] = mod
        s.loader.exec_module(mod)
        return mod

    for name, sub in ((pkg, root.parent), (f"{pkg}.models", root), (f"{pkg}.models.multiTask", root / "multiTask")):
        m = types.ModuleType(name)
        m.__path__ = [str(sub)]
        sys.modules[name] = m
    bert_mod = load(f"{pkg}.models.subNets.BertTextEncoder", root / "subNets" / "BertTextEncoder.py")

    class OfflineBertTextEncoder(bert_mod.BertTextEncoder):  # the reference forward, our tiny BERT inside
        def __init__(self, use_finetune=False, transformers="bert", pretrained=None):
            torch.nn.Module.__init__(self)
            from selfmm.model import tiny_bert

            self.model = tiny_bert(pretrained)
            self.use_finetune = use_finetune

    subnets = types.ModuleType(f"{pkg}.models.subNets")
    subnets.__path__ = [str(root / "subNets")]
    subnets.BertTextEncoder = OfflineBertTextEncoder
    sys.modules[subnets.__name__] = subnets
    return load(f"{pkg}.models.multiTask.SELF_MM", root / "multiTask" / "SELF_MM.py").SELF_MM
