"""What an evidently drift page says, read from the widget JSON it embeds (no evidently import needed)."""

from __future__ import annotations

import re

# The dataset headline, and per column the test's description (method, score, threshold rounded to two decimals)
# and state ("fail" means drifted).
_HEADLINE = re.compile(r'"Dataset Drift is (NOT )?detected\. Dataset drift detection threshold is ([0-9.]+)"')
_COLUMN_TEST = re.compile(r'\{"title": "Value Drift for column (\w+)", "description": "([^"]*)", "state": "(\w+)"')


def page_verdicts(html: str) -> tuple[set[tuple[bool, str]], dict[str, tuple[str, bool]]]:
    """``({(dataset drift?, share threshold as shown)}, {column: (test description, drifted?)})``."""
    headlines = {(not negated, share) for negated, share in _HEADLINE.findall(html)}
    columns = {name: (description, state == "fail") for name, description, state in _COLUMN_TEST.findall(html)}
    return headlines, columns
