"""Fixtures of the end-to-end tests: one headless Chromium per module (tests/e2e/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.browser import launch_browser


@pytest.fixture(scope="module")
def browser() -> Iterator:
    yield from launch_browser()
