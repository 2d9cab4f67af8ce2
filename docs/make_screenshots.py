"""Screenshots of the review dashboard into ``docs/``: the three views (reels, reel, frame) and the
review tools (A/B, mask overlay, wipe, zoom, mask correction, the reel's sign-off and audit export).

Runs the browser test (``tests/test_dashboard_browser.py``: the sample reel restored, the dashboard
served, Debian's headless Chromium driven through a review) with ``DASHBOARD_SCREENSHOTS`` set, so
the pictures show exactly what the test checks. Needs /usr/bin/chromium and the ``playwright``
package::

    .venv/bin/python docs/make_screenshots.py
"""

import os
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent


def main() -> int:
    env = {**os.environ, "DASHBOARD_SCREENSHOTS": str(DOCS)}
    tests = [
        "test_review_approve_and_reprocess",
        "test_review_tools",
        "test_range_and_whole_reel_approval_and_audit_export",
        "test_mask_correction_paint_save_and_refill",
    ]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_dashboard_browser.py", "-k", " or ".join(tests)]
    return subprocess.call(cmd, cwd=DOCS.parent, env=env)


if __name__ == "__main__":
    raise SystemExit(main())
