"""Shared pytest configuration. Fixtures that build data live next to the tests that own them."""

import os

import pytest

# No test may reach the network: make Hugging Face fail fast instead of trying to download.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def mmsa():
    """The reference modules ``(SELF_MM class, MetricsTop class)`` of MMSA 2.2.1; fails with the fix if absent."""
    from tests.reference_mmsa import load_reference

    return load_reference()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors on a shared 2-core box: one intra-op thread is ~5x faster than two fighting for cores.
    Training test modules use it with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_pkl(tmp_path_factory):
    """The training tests' MMSA pickle: 22 / 6 / 6 clips with human unimodal labels (``make_mmsa_dict`` seed 3),
    so 6 train batches of 4 (the last has 2)."""
    from tests.mmsa_fixture import make_mmsa_dict, write_pickle

    return write_pickle(make_mmsa_dict(n=(22, 6, 6), seed=3, human=True), tmp_path_factory.mktemp("tiny") / "h.pkl")


def _reference_args(cfg, feature_dims: dict, **extra):
    """MMSA's ``args`` for its ``SELF_MM`` model, from a selfmm config whose text model is the tests' 16-wide BERT;
    ``extra`` adds the trainer's fields."""
    from types import SimpleNamespace

    c = cfg
    return SimpleNamespace(
        need_data_aligned=False, use_finetune=True, transformers="bert", pretrained=cfg,
        feature_dims=[16, feature_dims["audio"], feature_dims["vision"]], text_out=16,
        a_lstm_hidden_size=c.a_lstm_hidden_size, v_lstm_hidden_size=c.v_lstm_hidden_size, a_lstm_layers=1,
        v_lstm_layers=1, a_lstm_dropout=0.0, v_lstm_dropout=0.0, audio_out=c.audio_out, video_out=c.video_out,
        post_fusion_dim=c.post_fusion_dim, post_text_dim=c.post_text_dim, post_audio_dim=c.post_audio_dim,
        post_video_dim=c.post_video_dim, post_fusion_dropout=c.post_fusion_dropout,
        post_text_dropout=c.post_text_dropout, post_audio_dropout=c.post_audio_dropout,
        post_video_dropout=c.post_video_dropout, **extra,
    )  # fmt: skip


@pytest.fixture(scope="session")
def reference_args():
    """``reference_args(cfg, feature_dims, **extra)``: the ``args`` namespace MMSA's model (and trainer) read."""
    return _reference_args
