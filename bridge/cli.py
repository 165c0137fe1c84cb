"""The ctbridge command line: one module per subcommand under bridge/commands/."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from bridge import __version__, commands
from bridge.errors import BridgeError, ConfigError, FalcoNotFound
from bridge.telemetry import logs

DESCRIPTION = """\
Feed AWS CloudTrail into Falco through the ctbridge plugin, and forward Falco's alerts.

Data flows one way: sources -> normalize -> deliver -> (Falco + ctbridge plugin) -> intake ->
route -> sinks. `ctbridge COMMAND --help` explains each command with examples.
"""

EPILOG = """\
exit status: 0 done, 1 Falco or delivery failed, 2 bad configuration or input, 3 no Falco found.
environment: FALCO_BINARY (Falco to launch), CTBRIDGE_PLUGIN (libctbridge.so),
CTBRIDGE_LOG_LEVEL, CTBRIDGE__<KEY>__<KEY> (overrides a config-file key).
"""


def command_modules() -> dict[str, ModuleType]:
    """Every module in bridge/commands/ (not starting with '_') is a subcommand named after it."""
    found = {}
    for info in pkgutil.iter_modules(commands.__path__):
        if not info.name.startswith("_"):
            found[info.name.replace("_", "-")] = importlib.import_module(f"bridge.commands.{info.name}")
    return found


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ctbridge", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"ctbridge {__version__}")
    p.add_argument("--log-level", default=None,
                   help="debug, info, warning or error (default: $CTBRIDGE_LOG_LEVEL or info)")
    p.add_argument("--log-format", choices=("text", "json"), default=None,
                   help="log lines as text or as JSON objects (default: $CTBRIDGE_LOG_FORMAT or text)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in command_modules().items():
        c = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(c)
        c.set_defaults(_module=module)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        logs.setup(args.log_level, args.log_format)
    except ValueError as exc:
        print(f"ctbridge: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args._module.run(args))
    except FalcoNotFound as exc:
        print(f"ctbridge: no Falco to run against.\n{exc}", file=sys.stderr)
        return 3
    except ConfigError as exc:
        print(f"ctbridge: {exc}", file=sys.stderr)
        return 2
    except BridgeError as exc:
        print(f"ctbridge: {exc}", file=sys.stderr)
        return 1
