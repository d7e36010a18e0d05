"""What the browser tests share: a real headless Chromium (Debian's `chromium`, driven by Playwright),
numbered screenshots, signing in through the form, asking in the Chat tab, waiting for a condition.
The `browser` fixture is in tests/e2e/conftest.py."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
KESTREL = "What is Project Kestrel and which company would it acquire?"


def launch_browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


class Shots:
    def __init__(self, folder: Path) -> None:
        self.folder, self.n = folder, 0

    def __call__(self, page, name: str) -> None:
        self.n += 1
        page.screenshot(path=str(self.folder / f"{self.n:02d}-{name}.png"), full_page=True)


def sign_in(browser, server, user: str, shots: Shots):
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.goto(f"{server.url}/")
    assert page.url.endswith("/login")
    page.fill("#username", user)
    page.fill("#password", server.passwords[user])
    page.click("button[type=submit]")
    page.get_by_text("Signed in as").wait_for(timeout=60_000)
    shots(page, f"{user}-signed-in")
    return page


def ask(page, question: str, timeout_s: float = 240) -> list[str]:
    """Send a question; returns the successive texts of the answer bubble seen while it streamed."""
    page.locator("#message textarea").fill(question)
    page.click("#send")
    seen: list[str] = []
    bot = page.locator("#chatbot .message.bot, #chatbot [data-testid='bot']").last
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = bot.inner_text() if bot.count() else ""
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        if "Sources:" in text or "do not contain" in text:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"no finished answer within {timeout_s} s; seen: {seen[-1:]}")


def wait_until(check, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s} s")
        time.sleep(0.25)
