"""Fetch hls.js (the web page's HLS player, for a job's preview) from the npm registry into
serve/static/vendor/, checked against its published sha512; nothing when it is there.

Run by scripts/setup.sh. Stdlib only: it runs before the virtual environment has packages.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "1.7.4"
URL = f"https://registry.npmjs.org/hls.js/-/hls.js-{VERSION}.tgz"
INTEGRITY = (  # the registry's dist.integrity of that tarball
    "sha512-3GlxGdPvT2YHvQYOt+yOzT/DEior/qJVNIylHA77kgeoBTdQQqi70GwefNEUmHQeNGyjC8U62+bruqW/"
    "Tpm+tg=="
)
VENDOR = Path(__file__).resolve().parents[1] / "serve" / "static" / "vendor"
FILES = {"package/dist/hls.min.js": "hls.min.js", "package/LICENSE": "hls.js-LICENSE"}


def main() -> int:
    stamp = VENDOR / f"hls.js-{VERSION}"
    if stamp.exists() and all((VENDOR / name).exists() for name in FILES.values()):
        return 0
    print(f"setup: fetching hls.js {VERSION} for the web page's preview player")
    with urllib.request.urlopen(URL, timeout=60) as response:
        data = response.read()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != INTEGRITY:
        print(f"setup: {URL} does not match its published sha512; not installed", file=sys.stderr)
        return 1
    VENDOR.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member, name in FILES.items():
            extracted = tar.extractfile(member)
            if extracted is None:
                print(f"setup: {member} missing from {URL}", file=sys.stderr)
                return 1
            (VENDOR / name).write_bytes(extracted.read())
    stamp.write_text(INTEGRITY + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
