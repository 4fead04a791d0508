"""Screenshots of every console page on a seeded CT server, at desktop and phone width.

    .venv/bin/python -m bench.console_screenshots [--out .demo/console-screenshots]

Seeds a CT server (SQLite, a loopback fake LM) with tasks, versions, feedback, traces and
three real jobs (tests/support/console_seed.py), signs in through the form, and writes one
PNG per page and width. The files are not committed (a full set is a few MB).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.support.console_browser import console_browser, console_pages, sign_in
from tests.support.console_seed import seeded_console

WIDTHS = (1280, 420)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".demo/console-screenshots"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir, seeded_console(Path(workdir)) as seed:
        for width in WIDTHS:
            with console_browser(seed.server.base_url, width=width) as browser:
                sign_in(browser, seed.server.api_key)
                for name, path in console_pages(seed).items():
                    browser.page.goto(f"{seed.server.base_url}{path}")
                    target = args.out / f"{name}-{width}.png"
                    browser.page.screenshot(path=str(target), full_page=True)
                    scroll = browser.page.evaluate("document.documentElement.scrollWidth")
                    print(f"{target}  (page width {scroll} px at a {width} px window)")
                problems = browser.refused + browser.foreign_references + browser.errors
                if problems:
                    print("problems:", *problems, sep="\n  ", file=sys.stderr)
                    return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
