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
