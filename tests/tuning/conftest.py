"""Fixtures of the tuning tests: a small panel, tiny base parameters, one torch thread."""

from __future__ import annotations

import copy

import pytest
import torch

from .helpers import BASE, SPACE, panel


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def df():
    return panel()


@pytest.fixture
def base() -> dict:
    return copy.deepcopy(BASE)


@pytest.fixture
def space() -> dict:
    return copy.deepcopy(SPACE)
