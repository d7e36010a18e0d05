"""The README's screenshots: each tab of the web app, in a real headless Chromium, over the demo.

    .venv/bin/python scripts/screenshots.py                     # builds a demo home in a temporary folder
    .venv/bin/python scripts/screenshots.py --home H            # an existing demo home (assistant demo --no-serve)
    .venv/bin/python scripts/screenshots.py --out docs/screenshots

It starts `assistant serve` over the home on a free loopback port, signs in as the demo admin (its
password from HOME/demo-accounts.txt), asks one question in the Chat tab and opens its sources, then
saves one PNG per tab (and the sign-in page) under --out. Needs Debian's chromium (`make browser`).
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Who founded Calderbrook Digital, and in which year?"
TABS = ("Documents", "Engines", "Reports", "Feedback", "Jobs", "Users")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assistant(*args: str) -> list[str]:
    return [sys.executable, "-m", "assistant.cli", *args]


def demo_home(home: Path | None) -> Path:
    if home is not None:
        return home
    home = Path(tempfile.mkdtemp(prefix="screenshots-")) / "home"
    print(f"building a demo home in {home} ...", file=sys.stderr)
    subprocess.run(assistant("demo", "--no-serve", "--home", str(home)), check=True, stdout=subprocess.DEVNULL)
    return home


def admin_password(home: Path, built: bool) -> str:
    """The demo admin's password (`assistant demo` writes HOME/demo-accounts.txt when it serves), or a
    screenshots account made for this run in the home it built."""
    file = home / "demo-accounts.txt"
    if file.exists():
        return dict(line.split(" ", 1) for line in file.read_text().splitlines())["admin"]
    if not built:
        raise SystemExit(f"{home} has no demo-accounts.txt: give a home `assistant demo` has served, or none")
    password = secrets.token_urlsafe(12)
    subprocess.run(assistant("users", "add", "admin", "--role", "admin", "--groups", "leadership,finance",
                             "--password-stdin", "--home", str(home)), input=password, text=True, check=True,
                   stdout=subprocess.DEVNULL)
    return password


def start_server(home: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(assistant("serve", "--home", str(home), "--port", str(port)), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not start within 120 s")


def take(url: str, password: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
        page.goto(f"{url}/login")
        page.screenshot(path=str(out / "sign-in.png"))
        page.fill("#username", "admin")
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.get_by_text("Signed in as").wait_for(timeout=60_000)
        page.locator("#message textarea").fill(QUESTION)
        page.click("#send")
        page.locator("#sources summary").first.wait_for(timeout=300_000)
        page.locator("#sources summary").first.click()
        page.screenshot(path=str(out / "chat.png"), full_page=True)
        for name in TABS:
            tab = page.get_by_role("tab", name=name)
            if tab.count() == 0:
                continue
            tab.click()
            time.sleep(2)  # the tab loads its tables on select
            if name == "Engines":  # the whole training form, not only its first row
                page.get_by_text("More training options").click()
                time.sleep(1)
            page.screenshot(path=str(out / f"{name.lower()}.png"), full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="an existing demo home (default: a new one)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="where the PNGs go")
    args = parser.parse_args()
    home = demo_home(args.home)
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = start_server(home, port)
    try:
        take(f"http://127.0.0.1:{port}", admin_password(home, built=args.home is None), args.out)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"screenshots in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
