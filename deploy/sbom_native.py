"""Add the plugin's native parts to the image's CycloneDX SBOM.

cyclonedx-py knows the Python side (deploy/requirements.lock); the image also carries
libctbridge.so, compiled in the `plugin` stage against Debian packages (rapidjson headers, zlib
and libdeflate linked statically). That stage writes `dpkg-query -W -f '${Package}\\t${Version}\\n'`
of those packages; this adds libctbridge.so and each of them as components (purl pkg:deb/debian)
with the plugin depending on them. The bridge's own optional C extension (bridge.deliver._fastpack)
links libdeflate statically too: the root component depends on libdeflate-dev when it is listed.

    python deploy/sbom_native.py PYTHON_SBOM NATIVE_TSV [--plugin-version V] > sbom.cdx.json

Standard library only: it runs in the build stage before anything else is installed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

_PKG = re.compile(r"^[a-z0-9][a-z0-9+.\-]+$")  # Debian package names (policy 5.6.1)
_VER = re.compile(r"^[0-9][A-Za-z0-9.+~:\-]*$")


class SbomError(ValueError):
    pass


def read_native(path: Path) -> list[tuple[str, str]]:
    """`package<TAB>version` lines; anything else is an error naming the line."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not _PKG.match(parts[0]) or not _VER.match(parts[1]):
            raise SbomError(f"{path}:{n}: expected 'package<TAB>version' as dpkg-query prints it, got {line!r}")
        out.append((parts[0], parts[1]))
    if not out:
        raise SbomError(f"{path}: no packages (the plugin stage's dpkg-query printed nothing)")
    return out


def add_native(bom: dict[str, Any], native: list[tuple[str, str]], plugin_version: str) -> dict[str, Any]:
    if bom.get("bomFormat") != "CycloneDX" or not isinstance(bom.get("components", []), list):
        raise SbomError("the input is not a CycloneDX JSON document")
    components = bom.setdefault("components", [])
    deps = bom.setdefault("dependencies", [])
    plugin_ref = "native:libctbridge.so"
    refs = []
    for name, version in native:
        ref = f"native:deb:{name}"
        refs.append(ref)
        components.append({"bom-ref": ref, "type": "library", "name": name, "version": version,
                           "purl": f"pkg:deb/debian/{name}@{version}",
                           "description": "Debian package the plugin is compiled against (plugin stage)"})
    components.append({"bom-ref": plugin_ref, "type": "library", "name": "libctbridge.so", "version": plugin_version,
                       "description": "the Falco plugin, built in the image's plugin stage from plugin/"})
    deps.append({"ref": plugin_ref, "dependsOn": refs})
    deps.extend({"ref": r, "dependsOn": []} for r in refs)
    root = (bom.get("metadata") or {}).get("component") or {}
    if root.get("bom-ref") and "native:deb:libdeflate-dev" in refs:  # bridge.deliver._fastpack
        entry = next((d for d in deps if d.get("ref") == root["bom-ref"]), None)
        if entry is None:
            entry = {"ref": root["bom-ref"]}
            deps.append(entry)
        entry["dependsOn"] = sorted({*entry.get("dependsOn", []), "native:deb:libdeflate-dev"})
    return bom


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("python_sbom", type=Path)
    ap.add_argument("native_tsv", type=Path)
    ap.add_argument("--plugin-version", default="")
    a = ap.parse_args(argv)
    try:
        bom = json.loads(a.python_sbom.read_text(encoding="utf-8"))
        version = a.plugin_version or (bom.get("metadata", {}).get("component", {}).get("version") or "unknown")
        out = add_native(bom, read_native(a.native_tsv), version)
    except (OSError, ValueError) as e:  # SbomError and JSONDecodeError are ValueErrors
        print(f"sbom_native: {e}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
