"""ctbridge check: validate a daemon config file and test every source's access."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from bridge.errors import BridgeError

HELP = "validate a `run --config` file and test each source's access, delivering nothing"
DESCRIPTION = """\
Validate the daemon's config file (every key, with the environment overrides applied) and test
each source's access without reading any record: S3 list (and the accounts and regions found),
SQS get-queue-attributes, CloudTrail LookupEvents, CloudWatch Logs describe, local paths. Prints
one line per source; exit status 0 when all pass, 2 for a bad config, 1 when a source fails.

examples:
  ctbridge check --config /etc/ctbridge/ctbridge.yaml
  CTBRIDGE__SOURCES__0__BUCKET=my-trail ctbridge check --config ctbridge.yaml
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, metavar="FILE", help="the daemon's YAML config")


def run(args: argparse.Namespace) -> int:
    from bridge.daemon import load_config
    from bridge.deliver.checkpoints import Checkpoints
    from bridge.normalize.quarantine import Quarantine
    from bridge.sources._base import SourceContext
    from bridge.sources._config import build_sources

    config = load_config(args.config)
    print(f"config {args.config}: valid ({len(config.sources)} sources)")
    failed = 0
    # Sources read their cursors from the state; a throwaway in-memory database keeps check side-effect free.
    ctx = SourceContext(checkpoints=Checkpoints(":memory:"), quarantine=Quarantine(None), stop=threading.Event())
    for src in build_sources(config.sources, ctx):
        try:
            print(f"ok   {src.name}: {src.check()}")
        except BridgeError as e:
            failed += 1
            print(f"FAIL {src.name}: {e}")
    sock = Path(config.falco.socket)
    print(f"note falco.socket {sock}: {'present' if sock.exists() else 'not present (yet): run waits for it'}")
    return 1 if failed else 0
