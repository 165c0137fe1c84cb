"""Hypothesis settings for the property tests: failing examples are kept under build/ (ignored by
git) so a failure found once is tried first on the next run; CTBRIDGE_HYPOTHESIS_EXAMPLES raises
the number of examples for a longer hunt (e.g. 5000), CI uses each test's own setting."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.database import DirectoryBasedExampleDatabase

_HOME = Path(__file__).resolve().parents[2] / "build" / "hypothesis"
set_hypothesis_home_dir(str(_HOME))  # its caches too, not a .hypothesis/ in the working directory
_DB = DirectoryBasedExampleDatabase(str(_HOME / "examples"))
# No deadline: these are not timed tests, and a shared CI machine makes any deadline flaky.
settings.register_profile("ctbridge", database=_DB, deadline=None, print_blob=True)
if os.environ.get("CTBRIDGE_HYPOTHESIS_EXAMPLES"):
    settings.register_profile("ctbridge-long", database=_DB, deadline=None, print_blob=True,
                              max_examples=int(os.environ["CTBRIDGE_HYPOTHESIS_EXAMPLES"]))
    settings.load_profile("ctbridge-long")
else:
    settings.load_profile("ctbridge")
