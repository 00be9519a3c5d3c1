"""Shared pytest configuration. Fixtures that build data live next to the tests that own them."""

import os

# No test may reach the network: make Hugging Face fail fast instead of trying to download.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
