"""What the format readers share, apart from the package's dispatcher."""

from __future__ import annotations

import re

_SEQ_ONLY = re.compile(r"^\s*(\d{1,4}|[一二三四五六七八九十]{1,3})[.、．]?\s*$")


def carried(text: str) -> str:
    """The value a vertical merge carries into the rows it covers (they are marked merged). A merged cell holding only
    a sequence number is the one number of the rows it spans: it is printed once, so the rows below stay part of its
    section instead of repeating the number."""
    return "" if _SEQ_ONLY.match(text or "") else text
