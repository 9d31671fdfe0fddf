"""The device the device-sensitive tests run on.

A test that takes the ``device`` fixture runs on ``$TRAJVIZ_TEST_DEVICE`` (``cpu`` unless
set) and is marked ``device``, so the same tests run on a GPU with::

    TRAJVIZ_TEST_DEVICE=cuda python -m pytest -m device

Where the variable names CUDA but torch sees no GPU, those tests are skipped with that reason.
"""

from __future__ import annotations

import os

import pytest
import torch

DEVICE_ENV = "TRAJVIZ_TEST_DEVICE"


def requested_device() -> torch.device:
    return torch.device(os.environ.get(DEVICE_ENV, "cpu"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "device" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.device)


def pytest_report_header() -> str:
    return f"trajviz device tests on: {requested_device()} ({DEVICE_ENV})"


@pytest.fixture(scope="session")
def device() -> torch.device:
    dev = requested_device()
    if dev.type == "cuda" and not torch.cuda.is_available():
        pytest.skip(f"{DEVICE_ENV}={dev} but torch sees no CUDA GPU")
    if dev.type not in ("cpu", "cuda"):
        pytest.fail(f"{DEVICE_ENV} must be cpu or cuda[:N], got {dev}")
    return dev
