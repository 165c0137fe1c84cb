"""ctbridge dlq: inspect and replay the alerts destinations refused for good."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import orjson

from bridge import config as cfgmod
from bridge.errors import ConfigError

HELP = "list, show, retry or purge dead-lettered alerts"
DESCRIPTION = """\
Each destination keeps the alerts it refused for good (HTTP 4xx other than 408/429, validation
errors) in a dead-letter table with the reason. Retry puts them back at the end of that
destination's queue (a running `ctbridge forward` picks them up); purge deletes them.

examples:
  ctbridge dlq list --config forward.yaml
  ctbridge dlq show --config forward.yaml slack 12
  ctbridge dlq retry --config forward.yaml slack --all
  ctbridge dlq purge --config forward.yaml slack 12 13
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (("list", "dead-lettered alerts per destination"), ("show", "entries as JSON"),
                         ("retry", "queue entries again"), ("purge", "delete entries")):
        a = sub.add_parser(action, help=text)
        a.add_argument("target", nargs="*", metavar="DESTINATION [SEQ ...]",
                       help="destination name (list: all when omitted), then entry numbers (from list)")
        a.add_argument("--config", metavar="FILE", help="the forward/run config (for queue.dir)")
        a.add_argument("--queue-dir", metavar="DIR", help="the queue directory, instead of --config")
        a.add_argument("--all", action="store_true", help="retry or purge every entry of the destination")
        a.add_argument("--limit", type=int, default=100, help="list: at most this many per destination")


def _queue_dir(args: argparse.Namespace) -> Path:
    if args.queue_dir:
        return Path(args.queue_dir)
    if not args.config:
        raise ConfigError("give --config FILE or --queue-dir DIR")
    from bridge.route.forwarder import queue_section

    return Path(queue_section(cfgmod.load(args.config)).dir)


def run(args: argparse.Namespace) -> int:
    from bridge.queue.store import Store

    args.destination = args.target[0] if args.target else None
    try:
        args.seq = [int(x) for x in args.target[1:]]
    except ValueError:
        raise ConfigError(f"entry numbers must be integers, got {' '.join(args.target[1:])!r}") from None
    base = _queue_dir(args)
    names = sorted(p.parent.name for p in base.glob("*/queue.db"))
    if args.destination is not None and args.destination not in names:
        raise ConfigError(f"no queue for destination {args.destination!r} in {base} (have: {', '.join(names) or 'none'})")
    if args.action != "list" and args.destination is None:
        raise ConfigError(f"dlq {args.action}: name the destination")
    if args.action in ("retry", "purge") and not (args.seq or args.all):
        raise ConfigError(f"dlq {args.action}: give entry numbers or --all")
    out = sys.stdout
    for name in [args.destination] if args.destination else names:
        store = Store(base / name / "queue.db")
        try:
            if args.action == "list":
                out.write(f"{name}: {store.dead_count()} dead-lettered, {store.depth()} queued\n")
                for d in store.dead_list(args.limit):
                    alert = orjson.loads(d.body)
                    when = dt.datetime.fromtimestamp(d.failed, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                    out.write(f"  {d.seq:>6}  {when}  {alert.get('rule', '')[:40]:<40}  {d.reason[:100]}\n")
            elif args.action == "show":
                for seq in args.seq:
                    item = store.dead_get(seq)
                    if item is None:
                        raise ConfigError(f"{name}: no dead-letter entry {seq}")
                    out.write(orjson.dumps({"seq": item.seq, "id": item.id, "reason": item.reason,
                                            "failed": item.failed, "alert": orjson.loads(item.body)},
                                           option=orjson.OPT_INDENT_2).decode() + "\n")
            elif args.action == "retry":
                n = store.dead_retry(None if args.all else args.seq)
                out.write(f"{name}: {n} alert(s) queued again\n")
            else:
                n = store.dead_purge(None if args.all else args.seq)
                out.write(f"{name}: {n} alert(s) purged\n")
        finally:
            store.close()
    return 0
