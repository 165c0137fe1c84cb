"""docs/fields.md is generated from the plugin's field table and must not drift from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from plugin_abi import PluginLib

REPO = Path(__file__).resolve().parents[2]


def test_fields_doc_is_up_to_date(plugin_lib: PluginLib) -> None:
    fresh = subprocess.run([sys.executable, str(REPO / "plugin" / "gen_fields_doc.py"), plugin_lib.path],
                           capture_output=True, text=True, check=True).stdout
    assert (REPO / "docs" / "fields.md").read_text(encoding="utf-8") == fresh, \
        "docs/fields.md is stale: run `make docs`"
    for name in ("`ct.id`", "`ct.info`", "`s3.bytes`", "`ec2.imageids`", "`iam.policy`", "`ctb.value`"):
        assert name in fresh
