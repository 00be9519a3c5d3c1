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
