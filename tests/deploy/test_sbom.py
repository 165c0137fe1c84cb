"""The image's CycloneDX SBOM (deploy/Dockerfile, bridge-build stage; deploy/supply-chain.md).

There is no Docker engine on the test machines: test_sbom_steps_as_written runs the Dockerfile's
own SBOM commands (the plugin stage's dpkg-query, the bridge-build stage's RUN) in place of
`docker build`, with the image's paths mapped to a temporary directory."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_image_lock import _pypi_reachable, _stages

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "deploy"))
import sbom_native  # noqa: E402


def _run_with(stage: str, needle: str) -> str:
    runs = [ins[4:] for ins in _stages()[stage] if ins.upper().startswith("RUN ") and needle in ins]
    assert len(runs) == 1, f"expected one RUN with {needle!r} in stage {stage}: {runs}"
    return runs[0]


def _lock_pins(path: Path) -> dict[str, tuple[str, set[str]]]:
    """name -> (version, sha256s) of a pip-compile --generate-hashes file."""
    pins: dict[str, tuple[str, set[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", path.read_text(encoding="utf-8")):
        m = re.match(r"([A-Za-z0-9][\w.\-]*)==(\S+)", block)
        if m:
            pins[re.sub(r"[-_.]+", "-", m.group(1).lower())] = (m.group(2), set(re.findall(r"sha256:([0-9a-f]{64})", block)))
    return pins


def test_the_bridge_image_carries_the_sbom_built_with_a_hash_pinned_tool() -> None:
    copies = [ins for ins in _stages()["bridge"] if ins.startswith("COPY --from=bridge-build") and "sbom" in ins]
    assert copies == ["COPY --from=bridge-build /sbom/sbom.cdx.json /usr/share/ctbridge/sbom.cdx.json"], copies
    run = _run_with("bridge-build", "cyclonedx-py")
    assert "--require-hashes -r deploy/sbom-tool.lock" in run, run
    assert "requirements --pyproject pyproject.toml" in run and run.rstrip().endswith("> /sbom/sbom.cdx.json"), run
    tool = _lock_pins(REPO / "deploy" / "sbom-tool.lock")
    assert "cyclonedx-bom" in tool and all(hashes for _, hashes in tool.values()), "every tool pin carries hashes"


def _bom(native: list[tuple[str, str]]) -> dict[str, Any]:
    bom = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"bom-ref": "x", "name": "boto3"}],
           "metadata": {"component": {"bom-ref": "root-component", "name": "falco-cloudtrail-bridge", "version": "0.1.0"}},
           "dependencies": [{"ref": "root-component"}]}
    return sbom_native.add_native(bom, native, "0.1.0")


def test_native_parts_are_added_with_debian_purls_and_the_plugin_depends_on_them() -> None:
    bom = _bom([("zlib1g-dev", "1:1.2.13.dfsg-1"), ("rapidjson-dev", "1.1.0+dfsg2-7.1")])
    by_name = {c["name"]: c for c in bom["components"]}
    assert by_name["zlib1g-dev"]["purl"] == "pkg:deb/debian/zlib1g-dev@1:1.2.13.dfsg-1"
    assert by_name["libctbridge.so"]["version"] == "0.1.0" and "boto3" in by_name
    plugin = next(d for d in bom["dependencies"] if d["ref"] == "native:libctbridge.so")
    assert plugin["dependsOn"] == ["native:deb:zlib1g-dev", "native:deb:rapidjson-dev"]
    root = [d for d in bom["dependencies"] if d["ref"] == "root-component"]
    assert root == [{"ref": "root-component"}], "no libdeflate in the list: the bridge's C extension links nothing listed"
    bom = _bom([("libdeflate-dev", "1.14-1")])
    root = [d for d in bom["dependencies"] if d["ref"] == "root-component"]
    assert root == [{"ref": "root-component", "dependsOn": ["native:deb:libdeflate-dev"]}]  # bridge.deliver._fastpack


@pytest.mark.parametrize(("text", "problem"), [
    ("zlib1g-dev 1.2\n", "expected 'package<TAB>version'"),       # a space, not dpkg-query's tab
    ("zlib1g-dev\t\n", "expected 'package<TAB>version'"),         # no version: the package is missing
    ("Bad_Name\t1.0\n", "expected 'package<TAB>version'"),
    ("\n\n", "no packages"),
])
def test_bad_native_list_is_an_error_naming_the_file_and_line(tmp_path: Path, text: str, problem: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    tsv = tmp_path / "native-deps.tsv"
    tsv.write_text(text)
    bom = tmp_path / "python.cdx.json"
    bom.write_text(json.dumps({"bomFormat": "CycloneDX", "components": []}))
    assert sbom_native.main([str(bom), str(tsv)]) == 1
    err = capsys.readouterr().err
    assert problem in err and str(tsv) in err, err


def test_input_that_is_not_cyclonedx_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tsv = tmp_path / "n.tsv"
    tsv.write_text("zlib1g-dev\t1.0\n")
    for text in ('{"components": []}', "{not json"):
        (tmp_path / "b.json").write_text(text)
        assert sbom_native.main([str(tmp_path / "b.json"), str(tsv)]) == 1
        assert "sbom_native:" in capsys.readouterr().err


@pytest.mark.timeout(900)
def test_sbom_steps_as_written(tmp_path: Path) -> None:
    """The plugin stage's dpkg-query and the bridge-build stage's SBOM RUN, as written: the SBOM
    names every package of deploy/requirements.lock at its pinned version with its sha256s, the
    bridge as the root component, the plugin and its Debian packages."""
    if not _pypi_reachable():
        pytest.skip("PyPI is not reachable from here: the SBOM tool's lock cannot be installed")
    plugin_run = _run_with("plugin", "dpkg-query")
    dpkg = plugin_run[plugin_run.index("dpkg-query"):].replace("build/plugin/native-deps.tsv", str(tmp_path / "native-deps.tsv"))
    res = subprocess.run(["bash", "-c", dpkg], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"the plugin's build packages are not installed here (`make plugin` installs them): {res.stderr.strip()}")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)  # the image's `python`
    run = _run_with("bridge-build", "cyclonedx-py")
    image_dirs = {"/opt/sbom-tool": tmp_path / "sbom-tool", "/tmp": tmp_path, "/sbom": tmp_path / "sbom"}
    run = re.sub(r"(?<![\w./-])(/opt/sbom-tool|/tmp|/sbom)(?=/|\s|$)", lambda m: str(image_dirs[m.group(1)]), run)
    # As in the image: PyPI only, not this machine's pip.conf (its certificates come from the env).
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "PIP_CONFIG_FILE": os.devnull,
           "PIP_FIND_LINKS": "", "PIP_NO_INPUT": "1"}
    res = subprocess.run(["bash", "-c", run], cwd=REPO, env=env, capture_output=True, text=True)
    assert res.returncode == 0, f"{shlex.quote(run)}:\n{res.stdout[-2000:]}{res.stderr[-3000:]}"
    bom = json.loads((tmp_path / "sbom" / "sbom.cdx.json").read_text())
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    root = bom["metadata"]["component"]
    version = re.search(r'^version\s*=\s*"([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert root["name"] == "falco-cloudtrail-bridge" and version and root["version"] == version.group(1)
    found = {}
    for c in bom["components"]:
        hashes = {h["content"] for ref in c.get("externalReferences", []) for h in ref.get("hashes", [])}
        found[re.sub(r"[-_.]+", "-", c["name"].lower())] = (c.get("version"), hashes, c.get("purl", ""))
    for name, (ver, hashes) in _lock_pins(REPO / "deploy" / "requirements.lock").items():
        assert name in found, f"{name} is in the lock but not in the SBOM"
        assert found[name][0] == ver and found[name][1] == hashes, (name, found[name][:2], ver)
        assert found[name][2].startswith(f"pkg:pypi/{name}@") or found[name][2].startswith("pkg:pypi/"), found[name][2]
    natives = dict(line.split("\t") for line in (tmp_path / "native-deps.tsv").read_text().splitlines())
    assert set(natives) == {"rapidjson-dev", "zlib1g-dev", "libdeflate-dev"}
    for name, ver in natives.items():
        assert found[name][0] == ver and found[name][2] == f"pkg:deb/debian/{name}@{ver}"
    assert "libctbridge-so" in found
    root_deps = next(d for d in bom["dependencies"] if d["ref"] == root["bom-ref"])
    assert "native:deb:libdeflate-dev" in root_deps["dependsOn"], "the bridge's C extension links libdeflate"
