"""The plugin's identity, exported ABI, field table shape, init schema and config checks."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from plugin_abi import SS_PLUGIN_SCHEMA_JSON, PluginError, PluginLib
from plugin_samples import make_record

EXPORTED = [
    "plugin_get_required_api_version",
    "plugin_get_version",
    "plugin_get_name",
    "plugin_get_description",
    "plugin_get_contact",
    "plugin_get_id",
    "plugin_get_event_source",
    "plugin_get_fields",
    "plugin_get_init_schema",
    "plugin_init",
    "plugin_destroy",
    "plugin_get_last_error",
    "plugin_open",
    "plugin_close",
    "plugin_next_batch",
    "plugin_get_progress",
    "plugin_event_to_string",
    "plugin_extract_fields",
    "plugin_list_open_params",
    "plugin_get_metrics",
    "plugin_set_config",
]

# The official cloudtrail plugin's 73 fields, in its declaration order (ct-fields.md §6).
OFFICIAL_FIELDS = """
ct.id ct.error ct.errormessage ct.time ct.src ct.shortsrc ct.name ct.user ct.originaluser
ct.user.accountid ct.user.identitytype ct.user.principalid ct.user.arn ct.region
ct.response.subnetid ct.response.reservationid ct.response ct.request.availabilityzone
ct.request.cluster ct.request.functionname ct.request.groupname ct.request.host ct.request.name
ct.request.policy ct.request.reason ct.request.target ct.request.documentname
ct.request.serialnumber ct.request.servicename ct.request.subnetid ct.request.taskdefinition
ct.request.username ct.request ct.srcip ct.useragent ct.info ct.managementevent ct.readonly
ct.requestid ct.eventtype ct.apiversion ct.resources ct.recipientaccountid ct.serviceeventdetails
ct.sharedeventid ct.vpcendpointid ct.eventcategory ct.addendum.reason ct.addendum.updatedfields
ct.addendum.originalrequestid ct.addendum.originaleventid ct.sessioncredentialfromconsole
ct.edgedevicedetails ct.tlsdetails.tlsversion ct.tlsdetails.ciphersuite
ct.tlsdetails.clientprovidedhostheader ct.additionaleventdata s3.uri s3.bucket s3.key s3.bytes
s3.bytes.in s3.bytes.out s3.cnt.get s3.cnt.put s3.cnt.other ec2.name ec2.imageid ec2.imageids
ecr.repository ecr.imagetag iam.role iam.policy
""".split()

UINT64_FIELDS = {"s3.bytes", "s3.bytes.in", "s3.bytes.out", "s3.cnt.get", "s3.cnt.put", "s3.cnt.other"}


def test_exports_every_abi_symbol(plugin_lib: PluginLib) -> None:
    missing = [s for s in EXPORTED if not plugin_lib.has_symbol(s)]
    assert missing == []


def test_exports_nothing_else(plugin_lib: PluginLib) -> None:
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) not installed")
    out = subprocess.run([nm, "-D", "--defined-only", plugin_lib.path], capture_output=True, text=True, check=True)
    names = sorted(line.split()[-1] for line in out.stdout.splitlines() if line.strip())
    assert names == sorted(EXPORTED)


def test_needs_only_glibc(plugin_lib: PluginLib) -> None:
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("readelf (binutils) not installed")
    out = subprocess.run([readelf, "-d", plugin_lib.path], capture_output=True, text=True, check=True).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))
    glibc = re.compile(r"^(libc|libm|libpthread|libdl|librt|ld-linux-x86-64|ld-linux-aarch64)\.so\.\d+$")
    assert needed and all(glibc.match(n) for n in needed), needed
    assert "TEXTREL" not in out


def test_identity(plugin_lib: PluginLib) -> None:
    assert plugin_lib.name == "ctbridge"
    assert plugin_lib.version == "0.1.0"
    assert plugin_lib.required_api_version == "3.0.0"
    assert plugin_lib.id == 1129595441
    assert 1073741824 <= plugin_lib.id <= 2147483647  # private range
    assert plugin_lib.event_source == "aws_cloudtrail"
    assert plugin_lib.contact == "https://github.com/falco-cloudtrail-bridge/falco-cloudtrail-bridge"
    assert "CloudTrail" in plugin_lib.description


def test_required_api_loads_on_falco_0_38() -> None:
    # Falco 0.38 ships API 3.5.0: our major must be 3 and minor.patch at most 5.0.
    major, minor, patch = (int(x) for x in "3.0.0".split("."))
    assert major == 3 and (minor, patch) <= (5, 0)


def test_version_is_semver(plugin_lib: PluginLib) -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", plugin_lib.version)
    assert re.fullmatch(r"\d+\.\d+\.\d+", plugin_lib.required_api_version)


def test_field_list_shape(plugin_lib: PluginLib) -> None:
    fields = plugin_lib.fields()
    names = [f["name"] for f in fields]
    assert names[:73] == OFFICIAL_FIELDS
    assert names[73:] == ["ctb.value", "ctb.principal", "ctb.count", "ctb.first", "ctb.seq"]
    assert len(set(names)) == len(names)
    for f in fields:
        assert f["type"] in {"string", "uint64", "bool", "reltime", "abstime", "ipaddr", "ipnet"}
        assert isinstance(f["desc"], str) and f["desc"]
        assert not f["name"].startswith(("json.", "jevt.", "evt."))
        arg = f.get("arg")
        if arg and arg.get("isRequired"):
            assert arg.get("isIndex") or arg.get("isKey")
    by_name = {f["name"]: f for f in fields}
    assert {n for n in OFFICIAL_FIELDS if by_name[n]["type"] == "uint64"} == UINT64_FIELDS
    assert [n for n in names if by_name[n].get("isList")] == ["ec2.imageids"]
    assert by_name["ec2.imageids"]["arg"]["isIndex"] is True
    assert by_name["ec2.imageids"]["arg"].get("isRequired", False) is False
    assert by_name["ctb.value"]["arg"]["isKey"] is True


def test_init_schema(plugin_lib: PluginLib) -> None:
    kind, text = plugin_lib.init_schema()
    assert kind == SS_PLUGIN_SCHEMA_JSON
    schema = json.loads(text)
    assert schema["type"] == ["object", "null"]  # null: what Falco makes of an empty YAML map
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {
        "maxBatchEvents",
        "idleTimeoutMs",
        "maxRecordBytes",
        "socketMode",
        "skipInsights",
    }
    batch = schema["properties"]["maxBatchEvents"]
    assert (batch["type"], batch["minimum"], batch["maximum"]) == ("integer", 1, 65536)
    # Falco's YAML conversion turns "0660" into a number, so the schema must admit both.
    assert schema["properties"]["socketMode"]["type"] == ["string", "integer"]


@pytest.mark.parametrize(
    "config",
    ["", "{}", "  ", '{"maxBatchEvents": 1, "idleTimeoutMs": 0, "maxRecordBytes": 1024}',
     '{"socketMode": "0660", "skipInsights": false, "maxBatchEvents": 65536}', '{"socketMode": "600"}',
     "null"],  # Falco's conversion of `init_config: {}`
)
def test_init_accepts_good_config(plugin_lib: PluginLib, config: str) -> None:
    state = plugin_lib.init(config)
    try:
        assert state.last_error() == ""
    finally:
        state.destroy()


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ('{"maxBatchSize": 10}', ["maxBatchSize", "unknown key"]),
        ('{"maxBatchEvents": "10"}', ["maxBatchEvents", "integer", "string"]),
        ('{"maxBatchEvents": 0}', ["maxBatchEvents", "between 1 and 65536"]),
        ('{"maxBatchEvents": 65537}', ["maxBatchEvents", "65537"]),
        ('{"maxBatchEvents": 1.5}', ["maxBatchEvents", "integer"]),
        ('{"idleTimeoutMs": -1}', ["idleTimeoutMs", "between 0 and 10000"]),
        ('{"maxRecordBytes": 100}', ["maxRecordBytes", "between 1024"]),
        ('{"socketMode": 680}', ["socketMode", "0660", "680"]),
        ('{"socketMode": 1000}', ["socketMode", "1000"]),
        ('{"socketMode": -1}', ["socketMode", "-1"]),
        ('{"socketMode": true}', ["socketMode", "boolean"]),
        ('{"socketMode": "0999"}', ["socketMode", "0999"]),
        ('{"socketMode": "04755"}', ["socketMode", "octal"]),
        ('{"skipInsights": "yes"}', ["skipInsights", "boolean"]),
        ('{"maxBatchEvents": 5', ["not valid JSON"]),
        ("[1, 2]", ["JSON object", "array"]),
    ],
)
def test_init_rejects_bad_config(plugin_lib: PluginLib, config: str, words: list[str]) -> None:
    with pytest.raises(PluginError) as info:
        plugin_lib.init(config)
    for word in words:
        assert word in str(info.value)


def test_set_config_validates(plugin_lib: PluginLib) -> None:
    state = plugin_lib.init()
    try:
        state.set_config('{"maxBatchEvents": 8}')
        with pytest.raises(PluginError, match="bogus"):
            state.set_config('{"bogus": 1}')
    finally:
        state.destroy()


@pytest.mark.parametrize("params", ["", "/var/log/ct.json", "s3://bucket/prefix", "file://", "tcp://x:1"])
def test_open_rejects_unknown_params(plugin_lib: PluginLib, params: str) -> None:
    state = plugin_lib.init()
    try:
        with pytest.raises(PluginError) as info:
            state.open(params)
        assert "file://PATH" in str(info.value) and "unix://PATH" in str(info.value)
    finally:
        state.destroy()


def test_list_open_params(plugin_lib: PluginLib) -> None:
    state = plugin_lib.init()
    try:
        params = state.list_open_params()
        assert [p["value"].split("://")[0] for p in params] == ["file", "unix"]
        assert all(p["desc"] for p in params)
    finally:
        state.destroy()


def test_metrics_start_at_zero(plugin_lib: PluginLib) -> None:
    state = plugin_lib.init()
    try:
        metrics = state.metrics()
        for name in ("records", "skipped_no_time", "skipped_no_type", "skipped_insight", "skipped_too_large",
                     "bad_inputs", "batches_acked", "connections"):
            assert metrics[f"ctbridge.{name}"] == 0
    finally:
        state.destroy()


def test_extract_and_to_string_read_the_payload_at_offset_38(plugin_lib: PluginLib) -> None:
    state = plugin_lib.init()
    try:
        payload = json.dumps(make_record(0)).encode()
        assert state.extract(payload, ["ct.name"]) == ["PutBucketAcl"]
        assert "PutBucketAcl" in state.event_to_string(payload)
    finally:
        state.destroy()


def test_states_are_independent(plugin_lib: PluginLib) -> None:
    # Falco calls init once per inspector in one process (falco-facts §4.7).
    a = plugin_lib.init('{"maxBatchEvents": 2}')
    b = plugin_lib.init("{}")
    try:
        with pytest.raises(PluginError):
            a.open("nope://")
        assert b.last_error() == ""
    finally:
        a.destroy()
        b.destroy()
