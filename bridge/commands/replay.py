"""ctbridge replay: one-off investigations of CloudTrail files through Falco."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bridge.commands._shared import add_shared, default_plugin, default_rules, tls
from bridge.model import Alert
from bridge.sinks.jsonlines import JsonLinesSink

log = logging.getLogger("ctbridge")

HELP = "replay CloudTrail files through Falco and print the alerts"
DESCRIPTION = """\
Replay CloudTrail files through Falco with the ctbridge plugin and print the alerts, one JSON
line each. Falco is launched for the run ($FALCO_BINARY, `falco` on PATH, or Docker) unless
--falco-socket names the plugin socket of a Falco that is already running.

examples:
  ctbridge replay ~/trail/AWSLogs/                       # every log file below, bundled rules
  ctbridge replay logs/ --rules my_rules.yaml --out alerts.jsonl
  ctbridge replay samples/seed --intake grpc             # Falco <= 0.43: alerts over gRPC
  # a trail bucket, one account and region, one day:
  ctbridge replay s3://my-org-trail --since 2024-05-01T00:00:00Z --until 2024-05-02T00:00:00Z \\
      --account 111122223333 --region eu-west-1
  ctbridge replay cloudtrail-api://us-east-1 --since 6h  # management events from LookupEvents

On a terminal a progress line shows files, bytes, records/s and alerts so far (not when piped).
AWS access: the default credential chain; AWS_ENDPOINT_URL and AWS_REGION are honoured.
"""


def add_arguments(r: argparse.ArgumentParser) -> None:
    r.add_argument("paths", nargs="+", metavar="PATH",
                   help="CloudTrail log files (.json, .json.gz), JSON lines (.jsonl[.gz]), "
                        "EventBridge events, or directories of them; s3://BUCKET/PREFIX (a trail's "
                        "bucket); cloudtrail-api://REGION (LookupEvents)")
    r.add_argument("--since", default="24h", metavar="TIME",
                   help="s3:// and cloudtrail-api:// inputs: from this time (RFC 3339, or a duration "
                        "back from now such as 24h, 7d; default 24h)")
    r.add_argument("--until", metavar="TIME", help="s3:// and cloudtrail-api:// inputs: before this time (default now)")
    r.add_argument("--account", action="append", metavar="ID", help="s3:// inputs: only this account (repeatable)")
    r.add_argument("--region", action="append", metavar="REGION", help="s3:// inputs: only this region (repeatable)")
    r.add_argument("--no-progress", action="store_true", help="no progress line on the terminal")
    r.add_argument("--rules", action="append", metavar="FILE_OR_DIR",
                   help="Falco rules file or directory (repeatable; default: the bundled rules/)")
    r.add_argument("--plugin", default=None, metavar="SO",
                   help="path of libctbridge.so (default: $CTBRIDGE_PLUGIN or build/plugin/libctbridge.so)")
    r.add_argument("--falco-socket", metavar="PATH",
                   help="plugin socket of an already running Falco (sidecar); Falco's http_output "
                        "must post to --listen")
    r.add_argument("--falco-binary", metavar="PATH",
                   help="Falco binary to launch (default: $FALCO_BINARY, then `falco` on PATH, then Docker)")
    r.add_argument("--falco-image", default=None, metavar="IMAGE",
                   help="image used when Falco runs in Docker (default: falcosecurity/falco:0.45.0)")
    r.add_argument("--read-workers", type=int, default=2, metavar="N",
                   help="processes that decompress and parse the input files (default 2; 1 = none)")
    r.add_argument("--end-stream", action="store_true",
                   help="with --falco-socket: send end-of-stream when done (a plugin-only Falco then exits)")
    r.add_argument("--enrich", default="default", metavar="CONFIG",
                   help="enrichment (counters, first-seen, sequences; docs/enrichment.md): a YAML "
                        "config, `default` (the bundled one, the default) or `off`")
    r.add_argument("--enrich-state", metavar="FILE",
                   help="SQLite file that keeps the enrichment state between runs (default: none)")
    add_shared(r)


def run(args: argparse.Namespace) -> int:
    from bridge.app import DEFAULT_IMAGE, ReplayOptions, replay
    from bridge.enrich import load_config

    http_tls, grpc_tls = tls(args)
    enrich = None if args.enrich == "off" else load_config(None if args.enrich == "default" else args.enrich)
    opts = ReplayOptions(
        http_tls=http_tls, grpc_tls=grpc_tls,
        paths=args.paths,
        rules=args.rules or default_rules(),
        plugin_path=args.plugin or default_plugin(),
        falco_socket=args.falco_socket,
        falco_binary=args.falco_binary,
        falco_image=args.falco_image or DEFAULT_IMAGE,
        intake=args.intake,
        listen=args.listen,
        grpc_target=args.grpc_target,
        end_stream=args.end_stream,
        read_workers=args.read_workers,
        enrich=enrich,
        enrich_state=Path(args.enrich_state) if args.enrich_state else None,
        quarantine_dir=Path(args.quarantine) if args.quarantine else None,
        quiet=args.quiet,
        timeout=args.timeout,
    )
    from bridge.commands._progress import Progress
    from bridge.sources.remote import Window

    seen = {"alerts": 0}

    def counted(alert: Alert) -> None:
        seen["alerts"] += 1
        sink(alert)

    opts.window = Window(since=args.since, until=args.until, accounts=args.account or [],
                         regions=args.region or [])
    progress = Progress(lambda: seen["alerts"])
    progress.enabled = progress.enabled and not args.no_progress
    if progress.enabled:
        opts.on_item = progress.item
    with JsonLinesSink(args.out) as sink, progress:
        report = replay(opts, counted)
    log.info(
        "replayed %d records (%d duplicates skipped, %d quarantined); %d alerts from %s",
        report.records, report.duplicates, report.quarantined, report.alerts, report.falco,
    )
    return 0
