"""Screenshot a page of a Snakemake HTML report in headless Chromium (the pictures in docs/).

    python docs/screenshot_report.py results/report.html Training demo results/demo/report/training.html out.png

The report is a single-page app without addresses for its views, so a copy of it gets one line of
script that opens the given result, as a click on it would; Chromium then renders and saves it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--virtual-time-budget=8000",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="report.html (snakemake --report results/report.html)")
    parser.add_argument("category")
    parser.add_argument("subcategory")
    parser.add_argument("result", help="the result's path as the report lists it")
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", default="1400,1000", help="window width,height in pixels")
    args = parser.parse_args()
    view = {"navbarMode": "subcategory", "category": args.category, "subcategory": args.subcategory}
    opener = (
        "<script>window.addEventListener('load', () => setTimeout(() => app.setView(Object.assign("
        f"{json.dumps(view)}, {{content: 'html', resultPath: {json.dumps(args.result)}, "
        f"contentPath: results[{json.dumps(args.result)}].data_uri}})), 500));</script>"
    )
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "report.html"
        head, tail = args.report.read_text(encoding="utf-8").rsplit("</body>", 1)  # the page's own, the last
        page.write_text(head + opener + "</body>" + tail, encoding="utf-8")
        browser = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"
        command = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={folder}/profile"]
        command += [f"--window-size={args.size}", f"--screenshot={args.out.resolve()}", page.as_uri()]
        subprocess.run(command, check=True, capture_output=True, timeout=180)


if __name__ == "__main__":
    main()
