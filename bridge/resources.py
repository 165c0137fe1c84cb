"""Where the Falco config templates (falco_config/) and the default rules (rules/) are.

An installed package carries copies under bridge/_data/ (setup.py puts them there); a source
checkout or an editable install uses the folders at the top of the repository. An environment
variable overrides either.
"""

from __future__ import annotations

import os
from pathlib import Path

from bridge.errors import ConfigError

_PACKAGE = Path(__file__).resolve().parent
_REPO = _PACKAGE.parent
FALCO_CONFIG_ENV = "CTBRIDGE_FALCO_CONFIG_DIR"
RULES_ENV = "CTBRIDGE_RULES_DIR"


def _find(name: str, env: str, marker: str) -> Path:
    candidates = [Path(os.environ[env])] if os.environ.get(env) else []
    candidates += [_PACKAGE / "_data" / name, _REPO / name]
    for candidate in candidates:
        if (candidate / marker).is_file() or (marker == "" and candidate.is_dir()):
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise ConfigError(f"{name}/ not found (tried {tried}); set {env}")


def falco_config_dir() -> Path:
    """The folder holding falco.yaml and falco-grpc.yaml."""
    return _find("falco_config", FALCO_CONFIG_ENV, "falco.yaml")


def rules_dir() -> Path:
    """The folder of the rules ctbridge ships (used when no --rules is given)."""
    return _find("rules", RULES_ENV, "seed_scenario.yaml")
