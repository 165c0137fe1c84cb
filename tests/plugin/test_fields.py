"""Every field of the plugin through the C ABI, against ct-fields.md (the official cloudtrail
plugin v0.17.1, quirks included) plus ctb.value. Section numbers (§) refer to ct-fields.md.

Records live in tests/data/records/ and are handed to the plugin byte for byte as written,
whitespace included, like the file source does.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin_abi import PluginError, PluginLib, PluginState, Value

RECORDS = Path(__file__).resolve().parents[1] / "data" / "records"
R = "\u2192"  # → readOnly present and not true
L = "\u2190"  # ← readOnly true or missing
PBPAB_SUFFIX = " BlockPublicAcls=false BlockPublicPolicy=false IgnorePublicAcls=false RestrictPublicBuckets=false "

# The official 73 fields in declaration order with (type, display, properties) from §6.
OFFICIAL: list[tuple[str, str, str, list[str]]] = [
    ("ct.id", "string", "Event ID", []),
    ("ct.error", "string", "Error Code", []),
    ("ct.errormessage", "string", "Error Message", []),
    ("ct.time", "string", "Timestamp", ["hidden"]),
    ("ct.src", "string", "AWS Service", []),
    ("ct.shortsrc", "string", "AWS Service", []),
    ("ct.name", "string", "Event Name", []),
    ("ct.user", "string", "User Name", ["conversation"]),
    ("ct.originaluser", "string", "Original User Name", []),
    ("ct.user.accountid", "string", "User Account ID", []),
    ("ct.user.identitytype", "string", "User Identity Type", []),
    ("ct.user.principalid", "string", "User Principal Id", []),
    ("ct.user.arn", "string", "User ARN", []),
    ("ct.region", "string", "Region", []),
    ("ct.response.subnetid", "string", "Response Subnet ID", []),
    ("ct.response.reservationid", "string", "Response Reservation ID", []),
    ("ct.response", "string", "Response Elements", []),
    ("ct.request.availabilityzone", "string", "Request Availability Zone", []),
    ("ct.request.cluster", "string", "Request Cluster", []),
    ("ct.request.functionname", "string", "Request Function Name", []),
    ("ct.request.groupname", "string", "Request Group Name", []),
    ("ct.request.host", "string", "Request Host Name", []),
    ("ct.request.name", "string", "Host Name", []),
    ("ct.request.policy", "string", "Host Policy", []),
    ("ct.request.reason", "string", "Request Reason", []),
    ("ct.request.target", "string", "Request Target", []),
    ("ct.request.documentname", "string", "Request Document Name", []),
    ("ct.request.serialnumber", "string", "Request Serial Number", []),
    ("ct.request.servicename", "string", "Request Service", []),
    ("ct.request.subnetid", "string", "Request Subnet ID", []),
    ("ct.request.taskdefinition", "string", "Request Task Definition", []),
    ("ct.request.username", "string", "Request User Name", []),
    ("ct.request", "string", "Request Parameters", []),
    ("ct.srcip", "string", "Source IP", ["conversation"]),
    ("ct.useragent", "string", "User Agent", []),
    ("ct.info", "string", "Info", ["info"]),
    ("ct.managementevent", "string", "Management Event", []),
    ("ct.readonly", "string", "Read Only", []),
    ("ct.requestid", "string", "Request ID", []),
    ("ct.eventtype", "string", "Event Type", []),
    ("ct.apiversion", "string", "API Version", []),
    ("ct.resources", "string", "Resources", []),
    ("ct.recipientaccountid", "string", "Recipient Account Id", []),
    ("ct.serviceeventdetails", "string", "Service Event Details", []),
    ("ct.sharedeventid", "string", "Shared Event ID", []),
    ("ct.vpcendpointid", "string", "VPC Endpoint ID", []),
    ("ct.eventcategory", "string", "Event Category", []),
    ("ct.addendum.reason", "string", "Reason", []),
    ("ct.addendum.updatedfields", "string", "Updated Fields", []),
    ("ct.addendum.originalrequestid", "string", "Original Request ID", []),
    ("ct.addendum.originaleventid", "string", "Original Event ID", []),
    ("ct.sessioncredentialfromconsole", "string", "Session Credential From Console", []),
    ("ct.edgedevicedetails", "string", "Edge Device Details", []),
    ("ct.tlsdetails.tlsversion", "string", "TLS Version", []),
    ("ct.tlsdetails.ciphersuite", "string", "TLS Cipher Suite", []),
    ("ct.tlsdetails.clientprovidedhostheader", "string", "Client Provided Host Header", []),
    ("ct.additionaleventdata", "string", "Additional Event Data", []),
    ("s3.uri", "string", "Key URI", ["conversation"]),
    ("s3.bucket", "string", "Bucket Name", ["conversation"]),
    ("s3.key", "string", "Key Name", []),
    ("s3.bytes", "uint64", "Total Bytes", []),
    ("s3.bytes.in", "uint64", "Bytes In", ["hidden"]),
    ("s3.bytes.out", "uint64", "Bytes Out", ["hidden"]),
    ("s3.cnt.get", "uint64", "N Get Ops", ["hidden"]),
    ("s3.cnt.put", "uint64", "N Put Ops", ["hidden"]),
    ("s3.cnt.other", "uint64", "N Other Ops", ["hidden"]),
    ("ec2.name", "string", "Instance Name", []),
    ("ec2.imageid", "string", "Image Id", []),
    ("ec2.imageids", "string", "Image Ids", []),
    ("ecr.repository", "string", "ECR Repository name", []),
    ("ecr.imagetag", "string", "Image Tag", []),
    ("iam.role", "string", "IAM Role", []),
    ("iam.policy", "string", "IAM Policy", []),
]

_evtnums: Iterator[int] = itertools.count(1)


@pytest.fixture(scope="module")
def state(plugin_lib: PluginLib) -> Iterator[PluginState]:
    s = plugin_lib.init()
    yield s
    s.destroy()


def rec(name: str) -> bytes:
    return (RECORDS / f"{name}.json").read_bytes()


def get(state: PluginState, payload: bytes | dict[str, Any], *fields: str) -> list[Value]:
    """Values of `fields` for one new event (a fresh event number every time)."""
    data = json.dumps(payload).encode() if isinstance(payload, dict) else payload
    return state.extract(data, list(fields), evtnum=next(_evtnums))


def one(state: PluginState, payload: bytes | dict[str, Any], field: str) -> Value:
    return get(state, payload, field)[0]


# ---- the field table (§1, §6) ---------------------------------------------------------------


def test_field_table_matches_the_official_declaration(plugin_lib: PluginLib) -> None:
    fields = plugin_lib.fields()
    assert len(fields) == 78  # 73 official + ctb.value + 4 enrichment fields
    for got, (name, ftype, display, props) in zip(fields, OFFICIAL, strict=False):
        assert (got["name"], got["type"], got["display"]) == (name, ftype, display)
        assert got.get("properties", []) == props, name
        assert got["desc"].strip(), name
        assert "addOutput" not in got, name
    lists = [f["name"] for f in fields if f.get("isList")]
    assert lists == ["ec2.imageids"]
    with_arg = {f["name"]: f["arg"] for f in fields if "arg" in f}
    assert with_arg == {
        "ec2.imageids": {"isRequired": False, "isIndex": True, "isKey": False},
        "ctb.value": {"isRequired": True, "isIndex": False, "isKey": True},
        "ctb.count": {"isRequired": True, "isIndex": False, "isKey": True},
        "ctb.first": {"isRequired": True, "isIndex": False, "isKey": True},
        "ctb.seq": {"isRequired": True, "isIndex": False, "isKey": True},
    }
    assert fields[73]["name"] == "ctb.value" and fields[73]["type"] == "string"
    enrich = [(f["name"], f["type"]) for f in fields[74:]]
    assert enrich == [("ctb.principal", "string"), ("ctb.count", "uint64"), ("ctb.first", "string"), ("ctb.seq", "uint64")]
    assert not any(f["name"].startswith(("json.", "jevt.")) for f in fields)


# ---- one table of (record, field, expected), every value from ct-fields.md -----------------

SEED = "assumedrole_schedulekeydeletion"
KMS_KEY = "arn:aws:kms:us-east-1:161134881107:key/d4739191-8d06-47b5-a976-21a8fe1854a8"

CASES: list[tuple[str, str, Value]] = [
    # The seed's AssumedRole ScheduleKeyDeletion record, pretty-printed in the file.
    (SEED, "ct.id", "78c15027-2ad8-492e-a26f-058a0ce48e96"),
    (SEED, "ct.error", None),  # §6: absent when there was no error
    (SEED, "ct.errormessage", None),
    (SEED, "ct.time", "2020-10-19T17:24:16Z"),
    (SEED, "ct.src", "kms.amazonaws.com"),
    (SEED, "ct.shortsrc", "kms"),  # §3.5
    (SEED, "ct.name", "ScheduleKeyDeletion"),
    (SEED, "ct.user", "TeamRole"),  # §3.6 AssumedRole: the session issuer's (role) name
    (SEED, "ct.originaluser", "MasterKey"),  # §3.7 third part of the arn
    (SEED, "ct.user.accountid", "161134881107"),
    (SEED, "ct.user.identitytype", "AssumedRole"),
    (SEED, "ct.user.principalid", "AROJ2JML2BN4IFASO2OGL:MasterKey"),
    (SEED, "ct.user.arn", "arn:aws:sts::161134881107:assumed-role/TeamRole/MasterKey"),
    (SEED, "ct.region", "us-east-1"),
    (SEED, "ct.srcip", "cloudformation.amazonaws.com"),  # a service name, returned as it is
    (SEED, "ct.useragent", "cloudformation.amazonaws.com"),
    (SEED, "ct.requestid", "a9667575-e5b2-488a-b2bf-a3c335887d51"),
    (SEED, "ct.eventtype", "AwsApiCall"),
    (SEED, "ct.recipientaccountid", "161134881107"),
    (SEED, "ct.readonly", "false"),  # rule B
    (SEED, "ct.managementevent", None),  # rule B: missing key -> absent
    (SEED, "ct.eventcategory", None),
    (SEED, "ct.request", '{"keyId":"d3914791-8d06-47b5-a976-2fae1851a848"}'),  # rule J, whitespace gone
    (
        SEED,
        "ct.response",
        '{"keyId":"arn:aws:kms:us-east-1:168110711348:key/d4739191-8d06-47b5-a976-21a8fe1854a8",'
        '"deletionDate":"Nov 19, 2020 12:00:00 AM"}',
    ),
    (SEED, "ct.resources", '{"accountId":"161134881107","type":"AWS::KMS::Key","ARN":"' + KMS_KEY + '"}'),
    (SEED, "ct.additionaleventdata", None),
    (SEED, "ct.info", f"TeamRole via cloudformation.amazonaws.com {R} ScheduleKeyDeletion"),
    (SEED, "s3.cnt.other", 1),  # §3.12: 1 on every non-Get/Put event, even outside S3
    (SEED, "s3.cnt.get", None),
    (SEED, "s3.cnt.put", None),
    (SEED, "s3.bytes", None),
    (SEED, "ctb.value[/userIdentity/sessionContext/attributes/mfaAuthenticated]", "false"),
    (SEED, "ctb.value[/readOnly]", "false"),
    (SEED, "ctb.value[/resources/0/type]", "AWS::KMS::Key"),
    (SEED, "ctb.value[/userIdentity/sessionContext/webIdFederationData]", "{}"),
    # IAMUser (§4 example 1)
    ("iamuser_createaccesskey", "ct.user", "alice"),
    ("iamuser_createaccesskey", "ct.originaluser", "alice"),  # §3.7 non-AssumedRole: userName
    ("iamuser_createaccesskey", "ct.request.username", "bob"),
    ("iamuser_createaccesskey", "ct.info", f"alice via 203.0.113.10 {R} CreateAccessKey"),
    ("iamuser_createaccesskey", "ct.sessioncredentialfromconsole", "false"),  # §3.4: string "true"
    ("iamuser_createaccesskey", "ct.managementevent", "true"),
    ("iamuser_createaccesskey", "ct.useragent", "AWS Internal"),
    ("iamuser_createaccesskey", "ct.tlsdetails.tlsversion", "TLSv1.3"),
    ("iamuser_createaccesskey", "ct.tlsdetails.ciphersuite", "TLS_AES_128_GCM_SHA256"),
    ("iamuser_createaccesskey", "ct.tlsdetails.clientprovidedhostheader", "iam.amazonaws.com"),
    ("iamuser_createaccesskey", "ct.eventcategory", "Management"),
    ("iamuser_createaccesskey", "ct.resources", None),  # missing
    # Root ConsoleLogin without userName (§3.6, §7.5), requestParameters null (§3.3)
    ("root_consolelogin", "ct.user", None),
    ("root_consolelogin", "ct.originaluser", None),
    ("root_consolelogin", "ct.user.identitytype", "Root"),
    ("root_consolelogin", "ct.user.accountid", "123456789012"),
    ("root_consolelogin", "ct.shortsrc", "signin"),
    ("root_consolelogin", "ct.request", "null"),
    ("root_consolelogin", "ct.response", '{"ConsoleLogin":"Success"}'),
    (
        "root_consolelogin",
        "ct.additionaleventdata",
        '{"LoginTo":"https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true",'
        '"MobileVersion":"No","MFAUsed":"No"}',
    ),
    ("root_consolelogin", "ct.info", "<invalid cloudtrail event: userIdentity field missing>"),
    ("root_consolelogin", "ct.requestid", None),
    ("root_consolelogin", "ct.useragent", "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"),
    ("root_consolelogin", "ct.eventtype", "AwsConsoleSignIn"),
    ("root_consolelogin", "ctb.value[/responseElements/ConsoleLogin]", "Success"),
    ("root_consolelogin", "ctb.value[/additionalEventData/MFAUsed]", "No"),
    ("root_consolelogin", "ctb.value[/requestParameters]", "null"),
    ("root_consolelogin", "ctb.value[/requestParameters/x]", None),
    # AWSService without accountId or sourceIPAddress (§3.8 fallback, §3.15 step 2)
    ("awsservice_sharedsnapshot", "ct.user", "ec2.amazonaws.com"),
    ("awsservice_sharedsnapshot", "ct.user.accountid", "444455556666"),
    ("awsservice_sharedsnapshot", "ct.originaluser", None),
    ("awsservice_sharedsnapshot", "ct.user.principalid", None),
    ("awsservice_sharedsnapshot", "ct.srcip", None),
    ("awsservice_sharedsnapshot", "ct.info", "<invalid cloudtrail event: eventSource field missing>"),
    ("awsservice_sharedsnapshot", "ct.serviceeventdetails", ""),  # an object: rule S gives ""
    ("awsservice_sharedsnapshot", "ct.sharedeventid", "0a1b2c3d-5555-4e6f-8a9b-0c1d2e3f0003"),
    ("awsservice_sharedsnapshot", "ct.eventtype", "AwsServiceEvent"),
    ("awsservice_sharedsnapshot", "ct.response", "null"),
    ("awsservice_sharedsnapshot", "ec2.imageids", None),
    # AWSService whose user equals the source IP (§3.15 step 6)
    ("awsservice_assumerole", "ct.user", "lambda.amazonaws.com"),
    ("awsservice_assumerole", "ct.info", f"lambda.amazonaws.com {L} AssumeRole"),
    ("awsservice_assumerole", "ct.readonly", "true"),
    ("awsservice_assumerole", "ct.user.accountid", "123456789012"),  # recipientAccountId fallback
    (
        "awsservice_assumerole",
        "ct.resources",
        '{"accountId":"123456789012","type":"AWS::IAM::Role","ARN":"arn:aws:iam::123456789012:role/fn-exec"}',
    ),
    ("awsservice_assumerole", "ctb.value[/requestParameters/durationSeconds]", "43200"),
    # FederatedUser: the literal, not the name (§3.6)
    ("federateduser_describeinstances", "ct.user", "FederatedUser"),
    ("federateduser_describeinstances", "ct.originaluser", None),
    ("federateduser_describeinstances", "ct.info", f"FederatedUser via 192.0.2.44 {L} DescribeInstances"),
    ("federateduser_describeinstances", "ct.vpcendpointid", "vpce-0a1b2c3d4e5f60001"),
    ("federateduser_describeinstances", "ct.request", '{"instancesSet":{},"filterSet":{}}'),
    ("federateduser_describeinstances", "ec2.imageids", None),
    # AWSAccount
    ("awsaccount_getobject", "ct.user", "AWSAccount"),
    ("awsaccount_getobject", "ct.originaluser", None),
    ("awsaccount_getobject", "ct.user.accountid", "999988887777"),
    (
        "awsaccount_getobject",
        "ct.info",
        f"AWSAccount via 203.0.113.99 {L} GetObject Size=4096 URI=s3://shared-drop/in/2024/05/05/batch.csv",
    ),
    # IdentityCenterUser and SAMLUser: unlisted types (§3.6, §3.7)
    ("identitycenteruser_listapplications", "ct.user", None),
    ("identitycenteruser_listapplications", "ct.originaluser", None),
    ("identitycenteruser_listapplications", "ct.user.identitytype", "IdentityCenterUser"),
    ("identitycenteruser_listapplications", "ct.user.accountid", "123456789012"),
    ("identitycenteruser_listapplications", "ct.info", "<invalid cloudtrail event: userIdentity field missing>"),
    ("samluser_getcalleridentity", "ct.user", None),
    ("samluser_getcalleridentity", "ct.originaluser", "carol@example.com"),
    # S3 GetObject data event (§3.9 example, §3.10, §3.11, §3.12)
    ("s3_getobject", "s3.bucket", "acme-data"),
    ("s3_getobject", "s3.key", "reports/2024/q3.csv"),
    ("s3_getobject", "s3.uri", "s3://acme-data/reports/2024/q3.csv"),
    ("s3_getobject", "s3.bytes", 2048),
    ("s3_getobject", "s3.bytes.in", 0),
    ("s3_getobject", "s3.bytes.out", 2048),
    ("s3_getobject", "s3.cnt.get", 1),
    ("s3_getobject", "s3.cnt.put", None),
    ("s3_getobject", "s3.cnt.other", None),
    ("s3_getobject", "ct.request.host", "acme-data.s3.eu-west-1.amazonaws.com"),
    ("s3_getobject", "ct.user", "DataPipelineRole"),
    ("s3_getobject", "ct.originaluser", "etl-run-42"),
    ("s3_getobject", "ct.managementevent", "false"),
    ("s3_getobject", "ct.eventcategory", "Data"),
    (
        "s3_getobject",
        "ct.resources",
        '{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::b/k"},{"accountId":"1","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::b"}',
    ),
    (
        "s3_getobject",
        "ct.additionaleventdata",
        '{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":0,'
        '"AuthenticationMethod":"AuthHeader","x-amz-id-2":"EXAMPLEid2","bytesTransferredOut":2048}',
    ),
    ("s3_getobject", "ct.info", f"DataPipelineRole via 198.51.100.7 {L} GetObject Size=2048 URI=s3://acme-data/reports/2024/q3.csv"),
    # S3 PutObject, float byte counts, error, empty key (§2.2 N, §3.10)
    ("s3_putobject_float", "s3.bytes.in", 33),  # 33.0 -> 33
    ("s3_putobject_float", "s3.bytes.out", 2),  # 2.9 truncated toward zero
    ("s3_putobject_float", "s3.bytes", 35),
    ("s3_putobject_float", "s3.cnt.put", 1),
    ("s3_putobject_float", "s3.cnt.get", None),
    ("s3_putobject_float", "s3.cnt.other", None),
    ("s3_putobject_float", "s3.key", ""),
    ("s3_putobject_float", "s3.uri", "s3://acme-uploads/"),
    ("s3_putobject_float", "ct.error", "AccessDenied"),
    ("s3_putobject_float", "ct.errormessage", "Access Denied"),
    ("s3_putobject_float", "ct.resources", None),  # empty array
    ("s3_putobject_float", "ct.info", f"uploader via 203.0.113.20 !{R} PutObject Size=35 URI=s3://acme-uploads/"),
    # Non-numeric byte counts, numeric key, string readOnly/managementEvent, object resources
    ("s3_bytes_nonnumeric", "s3.bytes.in", 0),  # the string "12" counts 0 and is present
    ("s3_bytes_nonnumeric", "s3.bytes.out", 1000),  # 1e3
    ("s3_bytes_nonnumeric", "s3.bytes", 1000),
    ("s3_bytes_nonnumeric", "s3.key", ""),
    ("s3_bytes_nonnumeric", "s3.uri", None),  # numeric key
    ("s3_bytes_nonnumeric", "ct.readonly", "false"),  # the string "true"
    ("s3_bytes_nonnumeric", "ct.managementevent", "false"),
    ("s3_bytes_nonnumeric", "ct.resources", None),  # not an array
    ("s3_bytes_nonnumeric", "ct.info", f"uploader via 203.0.113.20 {R} GetObject Size=1000 Bucket=acme-uploads"),
    # DeleteBucket: Size and Bucket, Host not shown (§3.15 step 9)
    ("s3_deletebucket", "ct.info", f"alice via 203.0.113.10 !{R} DeleteBucket Size=243 Bucket=prod-logs"),
    ("s3_deletebucket", "s3.bytes", 243),
    ("s3_deletebucket", "s3.cnt.other", 1),
    ("s3_deletebucket", "s3.uri", None),
    ("s3_deletebucket", "ct.error", "BucketNotEmpty"),
    # PutBucketPublicAccessBlock: all-false suffix with a trailing space, no Size (§3.15 step 7)
    ("s3_putbucketpublicaccessblock", "ct.info", f"alice via 203.0.113.10 {R} PutBucketPublicAccessBlock" + PBPAB_SUFFIX),
    ("s3_putbucketpublicaccessblock", "s3.bytes", 188),
    ("s3_putbucketpublicaccessblock", "ctb.value[/requestParameters/PublicAccessBlockConfiguration/BlockPublicAcls]", "true"),
    ("s3_putbucketpublicaccessblock", "ctb.value[/requestParameters/publicAccessBlock]", ""),
    # RunInstances: the worked example (§5)
    ("ec2_runinstances", "ec2.name", "web-01"),
    ("ec2_runinstances", "ec2.imageids", ["ami-A", "ami-A"]),
    ("ec2_runinstances", "ec2.imageids[1]", ["ami-A"]),  # a list field: one value
    ("ec2_runinstances", "ec2.imageids[2]", None),
    ("ec2_runinstances", "ec2.imageid", "ami-A"),
    ("ec2_runinstances", "ct.response.reservationid", "r-R"),
    ("ec2_runinstances", "ct.response.subnetid", None),
    ("ec2_runinstances", "ct.request.subnetid", "subnet-S"),
    ("ec2_runinstances", "ct.request.availabilityzone", "us-west-2b"),
    ("ec2_runinstances", "s3.cnt.other", 1),
    ("ec2_runinstances", "s3.cnt.get", None),
    ("ec2_runinstances", "s3.cnt.put", None),
    ("ec2_runinstances", "ct.info", f"ops-deployer via 192.0.2.55 {R} RunInstances"),
    ("ec2_runinstances", "ctb.value[/responseElements/instancesSet/items/0/instanceId]", "i-0aaa"),
    ("ec2_runinstances", "ctb.value[/requestParameters/monitoring]", '{"enabled":false}'),
    # Failed RunInstances: no response, so no image ids; the request's tags still name it (§3.13)
    ("ec2_runinstances_failed", "ec2.imageids", None),
    ("ec2_runinstances_failed", "ec2.imageids[0]", None),
    ("ec2_runinstances_failed", "ec2.imageid", None),
    ("ec2_runinstances_failed", "ec2.name", "second"),  # later item wins, first Name tag per item
    ("ec2_runinstances_failed", "ct.response", "null"),
    ("ec2_runinstances_failed", "ct.info", f"ops-deployer via 192.0.2.55 !{R} RunInstances"),
    # DescribeImages: the request fallback (§3.14)
    ("ec2_describeimages", "ec2.imageids", ["ami-0abc"]),
    ("ec2_describeimages", "ec2.imageids[0]", ["ami-0abc"]),
    ("ec2_describeimages", "ec2.imageids[1]", None),
    ("ec2_describeimages", "ec2.imageid", "ami-0abc"),
    ("ec2_describeimages", "ec2.name", None),
    ("ec2_describeimages", "ct.user", "BuildRole"),
    ("ec2_describeimages", "ct.originaluser", "packer"),
    # Escapes: rule S decodes, rule J keeps the text as written (§2.2)
    ("escapes", "ct.user", "ren\u00e9e"),
    ("escapes", "ct.originaluser", "ren\u00e9e"),
    ("escapes", "ct.user.arn", "arn:aws:iam::123456789012:user/ren\u00e9e"),
    ("escapes", "ct.useragent", "emoji \U0001f600 agent"),
    ("escapes", "s3.bucket", "caf\u00e9-bucket"),
    ("escapes", "s3.key", 'docs/r\u00e9sum\u00e9 "final".pdf'),
    ("escapes", "s3.uri", 's3://caf\u00e9-bucket/docs/r\u00e9sum\u00e9 "final".pdf'),
    ("escapes", "ct.request.name", "escaped-key"),  # "na\u006de" matches after decoding
    (
        "escapes",
        "ct.request",
        r'{"bucketName":"caf\u00e9-bucket","key":"docs\/r\u00e9sum\u00e9 \"final\".pdf","na\u006de":"escaped-key"}',
    ),
    ("escapes", "ctb.value[/requestParameters/name]", "escaped-key"),
    ("escapes", "ctb.value[/userAgent]", "emoji \U0001f600 agent"),
    (
        "escapes",
        "ct.info",
        f'ren\u00e9e via 203.0.113.30 {R} PutObject Size=10 URI=s3://caf\u00e9-bucket/docs/r\u00e9sum\u00e9 "final".pdf',
    ),
    # Duplicate member names: the first wins; rule J keeps both (§2.1, §2.2)
    ("duplicates", "ct.name", "First"),
    ("duplicates", "ct.user", "dup-user"),
    ("duplicates", "s3.bucket", "one"),
    ("duplicates", "ct.request", '{"bucketName":"one","bucketName":"two"}'),
    ("duplicates", "ctb.value[/eventName]", "First"),
    # ECS, with an AssumedRole lacking sessionIssuer.userName and a 2-part arn (§3.6, §3.7)
    ("ecs_createservice", "ct.request.cluster", "prod-cluster"),
    ("ecs_createservice", "ct.request.servicename", "web"),
    ("ecs_createservice", "ct.request.taskdefinition", "web:42"),
    ("ecs_createservice", "ct.apiversion", "2014-11-13"),
    ("ecs_createservice", "ct.user", "AssumedRole"),
    ("ecs_createservice", "ct.originaluser", None),  # arn has 2 parts, principalId 1
    # IAM (§3.1 iam.policy, §7.11)
    ("iam_attachrolepolicy", "iam.role", "app-role"),
    ("iam_attachrolepolicy", "iam.policy", None),  # policyArn only
    ("iam_attachrolepolicy", "ct.user", "AdminRole"),
    ("iam_attachrolepolicy", "ct.originaluser", None),  # arn 4 parts, principalId 3 parts
    ("iam_putrolepolicy", "iam.role", "app-role"),
    ("iam_putrolepolicy", "iam.policy", "inline-s3"),
    ("iam_putrolepolicy", "ct.originaluser", "ops"),  # no arn: principalId's second part
    ("iam_putrolepolicy", "ct.user.arn", None),
    ("iam_putrolepolicy", "ctb.value[/requestParameters/policyDocument]", '{\n  "Version": "2012-10-17"\n}'),
    (
        "iam_putrolepolicy",
        "ct.request",
        r'{"roleName":"app-role","policyName":"inline-s3","policyDocument":"{\n  \"Version\": \"2012-10-17\"\n}"}',
    ),
    # ECR and Lambda
    ("ecr_putimage", "ecr.repository", "web-app"),
    ("ecr_putimage", "ecr.imagetag", "v1.4.2"),
    ("ecr_putimage", "ct.user", "AssumedRole"),  # no sessionContext: the literal
    ("ecr_putimage", "ct.originaluser", "gh-actions"),
    ("lambda_createfunction", "ct.request.functionname", "thumbnailer"),
    ("lambda_createfunction", "ct.shortsrc", "lambda"),
    ("lambda_createfunction", "ctb.value[/requestParameters/codeSize]", "48213"),
    # The remaining plain fields, nulls and non-strings (§3.1, §3.2, §3.4, §3.5, §3.8)
    ("misc_fields", "ct.request.documentname", None),  # always absent, even with documentName
    ("misc_fields", "ct.request.host", "h.example.com"),
    ("misc_fields", "ct.request.groupname", "admins"),
    ("misc_fields", "ct.request.name", "thing-1"),
    ("misc_fields", "ct.request.policy", ""),  # an object
    ("misc_fields", "ct.request.reason", "maintenance"),
    ("misc_fields", "ct.request.target", "i-0abc"),
    ("misc_fields", "ct.request.serialnumber", "arn:aws:iam::123456789012:mfa/misc"),
    ("misc_fields", "ct.request.availabilityzone", "cn-north-1a"),
    ("misc_fields", "ct.request.username", "target-user"),
    ("misc_fields", "ct.request.subnetid", "subnet-R"),
    ("misc_fields", "ct.response.subnetid", "subnet-top"),
    ("misc_fields", "ct.response.reservationid", ""),
    ("misc_fields", "ct.user.accountid", ""),  # null accountId: "" and no fallback
    ("misc_fields", "ct.managementevent", "false"),  # null
    ("misc_fields", "ct.readonly", None),  # missing: no guessing from eventName
    ("misc_fields", "ct.sessioncredentialfromconsole", "true"),  # the JSON literal true
    ("misc_fields", "ct.shortsrc", "ssm.amazonaws.com.cn"),
    ("misc_fields", "ct.time", "2024-05-13T10:00:00.123Z"),
    ("misc_fields", "ct.serviceeventdetails", "a plain string"),
    ("misc_fields", "ct.edgedevicedetails", ""),  # an object
    ("misc_fields", "ct.addendum.reason", "DELIVERY_DELAY"),
    ("misc_fields", "ct.addendum.updatedfields", "sourceIPAddress"),
    ("misc_fields", "ct.addendum.originalrequestid", "orig-req-1"),
    ("misc_fields", "ct.addendum.originaleventid", "orig-evt-1"),
    ("misc_fields", "ct.tlsdetails.clientprovidedhostheader", ""),  # null
    ("misc_fields", "ct.vpcendpointid", "vpce-0123"),
    ("misc_fields", "ct.sharedeventid", "7e8f9a0b-9a9a-4c0d-8e1f-2a3b4c5d0023"),
    ("misc_fields", "ct.apiversion", "2014-11-06"),
    ("misc_fields", "ct.recipientaccountid", "123456789012"),
    ("misc_fields", "ct.eventcategory", "Management"),
    ("misc_fields", "ct.info", f"misc {L} SendCommand Host=h.example.com"),  # user == IP: no "via"
    ("misc_fields", "ctb.value[/requestParameters/documentName]", "AWS-RunShellScript"),
]


@pytest.mark.parametrize(("record", "field", "expected"), CASES, ids=[f"{r}:{f}" for r, f, _ in CASES])
def test_field(state: PluginState, record: str, field: str, expected: Value) -> None:
    assert one(state, rec(record), field) == expected


def test_every_field_is_covered_by_the_table(plugin_lib: PluginLib) -> None:
    covered = {f.split("[")[0] for _, f, _ in CASES}
    enrichment = {"ctb.principal", "ctb.count", "ctb.first", "ctb.seq"}  # test_enrich_fields.py
    assert covered == {f["name"] for f in plugin_lib.fields()} - enrichment


def test_every_field_of_every_record_in_one_call(state: PluginState, plugin_lib: PluginLib) -> None:
    # Many fields in one call: each value must stay intact until the call returns, and match
    # what a one-field call gives.
    keyed = {"ctb.value": "/eventName", "ctb.count": "n", "ctb.first": "n", "ctb.seq": "n"}
    names = [f["name"] + (f"[{keyed[f['name']]}]" if f["name"] in keyed else "") for f in plugin_lib.fields()]
    for path in sorted(RECORDS.glob("*.json")):
        data = path.read_bytes()
        together = get(state, data, *names)
        alone = [one(state, data, n) for n in names]
        assert together == alone, path.name


# ---- §4 plugin_event_to_string ------------------------------------------------------------

PLUGININFO = [
    ("iamuser_createaccesskey", f"us-east-1 alice iam CreateAccessKey alice via 203.0.113.10 {R} CreateAccessKey"),
    (
        "s3_getobject",
        f"eu-west-1 DataPipelineRole s3 GetObject DataPipelineRole via 198.51.100.7 {L} GetObject "
        "Size=2048 URI=s3://acme-data/reports/2024/q3.csv",
    ),
    ("root_consolelogin", "us-east-1<NA> signin ConsoleLogin <invalid cloudtrail event: userIdentity field missing>"),
    (
        "identitycenteruser_listapplications",
        "us-east-1<unknown user type> sso ListApplications <invalid cloudtrail event: userIdentity field missing>",
    ),
    (
        "awsservice_sharedsnapshot",
        "us-west-2 ec2.amazonaws.com ec2 SharedSnapshotCopyInitiated <invalid cloudtrail event: eventSource field missing>",
    ),
    (SEED, f"us-east-1 TeamRole kms ScheduleKeyDeletion TeamRole via cloudformation.amazonaws.com {R} ScheduleKeyDeletion"),
    ("awsservice_assumerole", f"eu-central-1 lambda.amazonaws.com sts AssumeRole lambda.amazonaws.com {L} AssumeRole"),
    (
        "samluser_getcalleridentity",
        "us-east-1<unknown user type> sts GetCallerIdentity <invalid cloudtrail event: userIdentity field missing>",
    ),
    ("misc_fields", f"cn-north-1 misc ssm.amazonaws.com.cn SendCommand misc {L} SendCommand Host=h.example.com"),
]


@pytest.mark.parametrize(("record", "text"), PLUGININFO, ids=[r for r, _ in PLUGININFO])
def test_event_to_string(state: PluginState, record: str, text: str) -> None:
    assert state.event_to_string(rec(record)) == text


def test_event_to_string_errors_and_user_parts(state: PluginState) -> None:
    base = json.loads(rec("iamuser_createaccesskey"))
    # §4 step 2, checked in this order
    assert state.event_to_string(json.dumps({**base, "eventSource": 5}).encode()) == (
        "<invalid JSON: event did not contain a source>"
    )
    no_region = {k: v for k, v in base.items() if k != "awsRegion"}
    assert state.event_to_string(json.dumps(no_region).encode()) == "<invalid JSON: event did not contain an awsRegion>"
    assert state.event_to_string(json.dumps({**base, "eventName": None}).encode()) == (
        "<invalid JSON: event did not contain an eventName>"
    )
    # not JSON: the prefix, then the parser's message
    text = state.event_to_string(b'{"eventName": ')
    assert text.startswith("<invalid JSON: %!s(MISSING)>") and "offset" in text
    # §4 step 1: NUL bytes are not trimmed here, although extraction trims them
    padded = rec("iamuser_createaccesskey") + b"\x00"
    assert state.event_to_string(padded).startswith("<invalid JSON: %!s(MISSING)>")
    assert one(state, padded, "ct.user") == "alice"
    # ct.user present but "": nothing, and ct.info starts with " via"
    empty_user = {**base, "userIdentity": {"type": "IAMUser", "userName": ""}}
    assert state.event_to_string(json.dumps(empty_user).encode()) == (
        f"us-east-1 iam CreateAccessKey  via 203.0.113.10 {R} CreateAccessKey"
    )
    # userIdentity.type missing: nothing at all
    no_type = {**base, "userIdentity": {"userName": "x"}}
    assert state.event_to_string(json.dumps(no_type).encode()) == (
        "us-east-1 iam CreateAccessKey <invalid cloudtrail event: userIdentity field missing>"
    )
    # AWSService without invokedBy: <NA> glued to the region
    svc = {**base, "userIdentity": {"type": "AWSService"}}
    assert state.event_to_string(json.dumps(svc).encode()).startswith("us-east-1<NA> iam CreateAccessKey <invalid")


# ---- edge cases on small records -----------------------------------------------------------


def test_rule_s_on_non_strings(state: PluginState) -> None:
    # §2.2 S, §7.1: a non-string value gives "", not its JSON text and not absent
    r = {"errorCode": None, "eventName": 48213, "awsRegion": True, "eventSource": {"a": 1}, "eventID": [1]}
    assert get(state, r, "ct.error", "ct.name", "ct.region", "ct.src", "ct.id", "ct.useragent") == [
        "", "", "", "", "", None,
    ]


def test_rule_b_variants(state: PluginState) -> None:
    # §2.2 B, §3.4, and the ct.info arrow (§3.15 step 4)
    base = {"userIdentity": {"type": "IAMUser", "userName": "u"}, "sourceIPAddress": "1.2.3.4", "eventName": "X"}
    for value, flag, arrow in [(True, "true", L), (False, "false", R), ("true", "false", R), (None, "false", R),
                               (1, "false", R), ({}, "false", R)]:
        r = {**base, "readOnly": value, "managementEvent": value, "sessionCredentialFromConsole": value}
        assert get(state, r, "ct.readonly", "ct.managementevent", "ct.sessioncredentialfromconsole", "ct.info") == [
            flag, flag, flag, f"u via 1.2.3.4 {arrow} X",
        ], value
    assert get(state, base, "ct.readonly", "ct.managementevent", "ct.sessioncredentialfromconsole", "ct.info") == [
        None, None, None, f"u via 1.2.3.4 {L} X",
    ]


def test_info_error_mark_and_missing_parts(state: PluginState) -> None:
    base = {"userIdentity": {"type": "IAMUser", "userName": "u"}, "sourceIPAddress": "1.2.3.4", "eventName": "X",
            "readOnly": False}
    # §3.15 step 3: "!" for any errorCode key, even "" or null
    assert one(state, {**base, "errorCode": ""}, "ct.info") == f"u via 1.2.3.4 !{R} X"
    assert one(state, {**base, "errorCode": None}, "ct.info") == f"u via 1.2.3.4 !{R} X"
    # §3.15 step 5: checks run U, IP, N
    no_name = {k: v for k, v in base.items() if k != "eventName"}
    assert one(state, no_name, "ct.info") == "<invalid cloudtrail event: eventName field missing>"
    no_ip_no_name = {k: v for k, v in no_name.items() if k != "sourceIPAddress"}
    assert one(state, no_ip_no_name, "ct.info") == "<invalid cloudtrail event: eventSource field missing>"
    # §3.15 step 9: only the first of URI/Bucket/Key/Host; Size=0 is shown
    s3 = {**base, "additionalEventData": {"bytesTransferredIn": 0}}
    assert one(state, {**s3, "requestParameters": {"key": "k", "Host": "h"}}, "ct.info") == (
        f"u via 1.2.3.4 {R} X Size=0 Key=k"
    )
    assert one(state, {**base, "requestParameters": {"bucketName": 3, "Host": "h"}}, "ct.info") == (
        f"u via 1.2.3.4 {R} X Bucket="
    )
    # PublicAccessBlockConfiguration not an object: no suffix, and still nothing after the name
    pb = {**s3, "eventName": "PutBucketPublicAccessBlock", "requestParameters": {"bucketName": "b"}}
    assert one(state, pb, "ct.info") == f"u via 1.2.3.4 {R} PutBucketPublicAccessBlock"


def test_user_types(state: PluginState) -> None:
    def user(ident: dict[str, Any]) -> list[Value]:
        return get(state, {"userIdentity": ident}, "ct.user", "ct.originaluser")

    assert user({"type": "Root", "userName": "root-name"}) == ["root-name", "root-name"]
    assert user({"type": "IAMUser"}) == [None, None]
    assert user({"type": "AWSService", "invokedBy": 7}) == ["", None]
    assert user({"type": "AWSAccount", "userName": "n"}) == ["AWSAccount", "n"]
    assert user({"type": "WebIdentityUser", "userName": "w"}) == [None, "w"]
    assert user({"type": "root", "userName": "r"}) == [None, "r"]  # names are case-sensitive
    assert user({"type": 1, "userName": "r"}) == [None, "r"]
    assert user({"userName": "r"}) == [None, "r"]
    # §3.7 AssumedRole session names
    assert user({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/Role/sess"}) == ["AssumedRole", "sess"]
    assert user({"type": "AssumedRole", "arn": "a/b/", "principalId": "X:p"}) == ["AssumedRole", ""]
    assert user({"type": "AssumedRole", "arn": 5, "principalId": "AROAXYZ:sess"}) == ["AssumedRole", "sess"]
    assert user({"type": "AssumedRole", "principalId": "AROAXYZ"}) == ["AssumedRole", None]
    assert user({"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"userName": None}}}) == ["", None]


def test_user_accountid_fallback(state: PluginState) -> None:
    # §3.8
    assert one(state, {"userIdentity": {"type": "AWSService"}, "recipientAccountId": "5"}, "ct.user.accountid") == "5"
    assert one(state, {"recipientAccountId": "5"}, "ct.user.accountid") == "5"
    assert one(state, {"userIdentity": {"accountId": 9}, "recipientAccountId": "5"}, "ct.user.accountid") == ""
    assert one(state, {"userIdentity": {}}, "ct.user.accountid") is None


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        (["a", 1, None], '"a",1,null'),
        ([{"k": [1, {"x": None}]}], '{"k":[1,{"x":null}]}'),
        ([], None),
        ({"type": "AWS::S3::Object"}, None),
        (None, None),
        ("arn", None),
    ],
)
def test_resources(state: PluginState, resources: Any, expected: Value) -> None:
    # §3.9: no brackets, rule J per element; absent unless a non-empty array
    assert one(state, {"resources": resources}, "ct.resources") == expected


def test_resources_keeps_original_text(state: PluginState) -> None:
    payload = b'{"resources": [ {"ARN" : "arn:aws:s3:::b/k" , "n": 1.50e3 } ,\n "x y" ]}'
    assert one(state, payload, "ct.resources") == '{"ARN":"arn:aws:s3:::b/k","n":1.50e3},"x y"'


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("signin.amazonaws.com", "signin"),
        ("x.amazonaws.com", "x"),
        (".amazonaws.com", ".amazonaws.com"),  # not longer than 14
        ("ssm.amazonaws.com.cn", "ssm.amazonaws.com.cn"),
        ("s3.AMAZONAWS.com", "s3.AMAZONAWS.com"),
        (42, ""),
    ],
)
def test_shortsrc(state: PluginState, source: Any, expected: str) -> None:
    # §3.5
    assert one(state, {"eventSource": source}, "ct.shortsrc") == expected


def test_shortsrc_missing(state: PluginState) -> None:
    assert one(state, {"eventName": "X"}, "ct.shortsrc") is None


def test_rule_j_fields(state: PluginState) -> None:
    # §3.3, §7.10: null is "null"; numbers as written; member order and duplicates kept
    payload = b'{"requestParameters": {"b": 1048576.0, "a": [ true , false ], "b": -0, "e": 1e3},' \
              b' "responseElements": null, "additionalEventData": "text"}'
    assert get(state, payload, "ct.request", "ct.response", "ct.additionaleventdata") == [
        '{"b":1048576.0,"a":[true,false],"b":-0,"e":1e3}', "null", '"text"',
    ]
    assert get(state, {"eventName": "X"}, "ct.request", "ct.response", "ct.additionaleventdata") == [None, None, None]


def test_rule_j_is_order_independent(state: PluginState) -> None:
    # §2.2 caveat: we always write the original text, even after a rule-S field read a leaf
    payload = rec("escapes")
    expected = r'{"bucketName":"caf\u00e9-bucket","key":"docs\/r\u00e9sum\u00e9 \"final\".pdf","na\u006de":"escaped-key"}'
    assert get(state, payload, "s3.bucket", "s3.key", "ct.request.username", "ct.request") == [
        "caf\u00e9-bucket", 'docs/r\u00e9sum\u00e9 "final".pdf', None, expected,
    ]
    assert get(state, payload, "ct.request", "s3.bucket") == [expected, "caf\u00e9-bucket"]


def test_escape_decoding(state: PluginState) -> None:
    # §2.2 S: all escapes resolved, surrogate pairs to UTF-8, malformed escapes kept as written
    payload = rb'{"eventName": "a\"b\\c\/d\n\t\u00e9\ud83d\ude00", "awsRegion": "x\qy\u12", "eventID": "\ud800z"}'
    assert get(state, payload, "ct.name", "ct.region", "ct.id") == [
        'a"b\\c/d\n\t\u00e9\U0001f600', r"x\qy\u12", r"\ud800z",
    ]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"bytesTransferredIn": 18446744073709551615}, [18446744073709551615, 18446744073709551615, None]),
        ({"bytesTransferredIn": 5, "bytesTransferredOut": 7}, [12, 5, 7]),
        ({"bytesTransferredOut": 7}, [7, None, 7]),
        ({"bytesTransferredIn": None, "bytesTransferredOut": True}, [0, 0, 0]),
        ({"bytesTransferredIn": {"n": 1}, "bytesTransferredOut": "12"}, [0, 0, 0]),
        ({"bytesTransferredIn": 2.5e1}, [25, 25, None]),
        ({"other": 1}, [None, None, None]),
    ],
)
def test_rule_n(state: PluginState, data: dict[str, Any], expected: list[Value]) -> None:
    # §2.2 N and §3.11: floats truncated, non-numbers count 0 and stay present
    assert get(state, {"additionalEventData": data}, "s3.bytes", "s3.bytes.in", "s3.bytes.out") == expected


def test_s3_counts(state: PluginState) -> None:
    # §3.12: absent, not 0; the event source is never checked
    assert get(state, {"eventName": "GetObject", "eventSource": "ec2.amazonaws.com"},
               "s3.cnt.get", "s3.cnt.put", "s3.cnt.other") == [1, None, None]
    assert get(state, {"eventName": "PutObject"}, "s3.cnt.get", "s3.cnt.put", "s3.cnt.other") == [None, 1, None]
    assert get(state, {"eventName": "getobject"}, "s3.cnt.get", "s3.cnt.put", "s3.cnt.other") == [None, None, 1]
    assert get(state, {"awsRegion": "x"}, "s3.cnt.get", "s3.cnt.put", "s3.cnt.other") == [None, None, 1]


def test_s3_uri(state: PluginState) -> None:
    # §3.10
    assert one(state, {"requestParameters": {"bucketName": " b ", "key": "a b/ c"}}, "s3.uri") == "s3:// b /a b/ c"
    assert one(state, {"requestParameters": {"bucketName": "b"}}, "s3.uri") is None
    assert one(state, {"requestParameters": {"bucketName": None, "key": "k"}}, "s3.uri") is None


def test_ec2_name_variants(state: PluginState) -> None:
    # §3.13
    def name(items: Any) -> Value:
        return one(state, {"requestParameters": {"tagSpecificationSet": {"items": items}}}, "ec2.name")

    inst = "instance"
    assert name([{"resourceType": inst, "tags": [{"key": "Name", "value": "a"}]},
                 {"resourceType": inst, "tags": [{"key": "Name", "value": ""}]}]) is None  # reset to ""
    assert name([{"resourceType": inst, "tags": [{"key": "Name", "value": 5}]}]) is None
    assert name([{"resourceType": "Instance", "tags": [{"key": "Name", "value": "a"}]}]) is None
    assert name([{"resourceType": inst, "tags": [{"key": "name", "value": "a"}, {"key": "Name", "value": "b"}]}]) == "b"
    assert name({"resourceType": inst}) is None
    assert one(state, {"responseElements": {"tagSpecificationSet": {"items": [
        {"resourceType": inst, "tags": [{"key": "Name", "value": "resp"}]}]}}}, "ec2.name") is None


def test_ec2_imageids_variants(state: PluginState) -> None:
    # §3.14, §7.13. ec2.imageids is a list field, so an indexed form is a list of one value.
    def ids(response: Any, request: Any, *specs: str) -> list[Value]:
        return get(state, {"responseElements": response, "requestParameters": request}, *specs)

    items = {"instancesSet": {"items": [{"imageId": ""}, {"imageId": "ami-1"}, {"x": 1}, {"imageId": 3},
                                        {"imageId": "ami-1"}]}}
    assert ids(items, {"imageId": "ami-req"}, "ec2.imageids", "ec2.imageids[0]", "ec2.imageids[2]",
               "ec2.imageids[3]", "ec2.imageids[5]", "ec2.imageid") == [["ami-1", "ami-1"], [""], None, [""], None, ""]
    # ITEMS exists but empty or not an array: no fallback to the request
    assert ids({"instancesSet": {"items": []}}, {"imageId": "ami-req"}, "ec2.imageids", "ec2.imageids[0]") == [
        None, None,
    ]
    assert ids({"instancesSet": {"items": {"imageId": "x"}}}, {"imageId": "r"}, "ec2.imageids", "ec2.imageid") == [
        None, None,
    ]
    assert ids({"instancesSet": {"items": None}}, {"imageId": "r"}, "ec2.imageids") == [None]
    # ITEMS missing: the request paths in order, as a one-element list; index > 0 is absent
    fast = {"DescribeFastLaunchImagesRequest": {"ImageId": {"content": "ami-fast"}},
            "launchSpecification": {"imageId": "ami-spec"}}
    assert ids(None, fast, "ec2.imageids", "ec2.imageids[0]", "ec2.imageids[1]", "ec2.imageid") == [
        ["ami-fast"], ["ami-fast"], None, "ami-fast",
    ]
    assert ids(None, {"launchSpecification": {"imageId": "ami-spec"}}, "ec2.imageids") == [["ami-spec"]]
    assert ids(None, {"imageId": 7, "launchSpecification": {"imageId": "s"}}, "ec2.imageids", "ec2.imageid") == [
        [""], "",
    ]


def test_ctb_value(state: PluginState) -> None:
    payload = b'{"a/b": {"m~n": [10, {"x": "y"}], "f": 1048576.0, "o": { "k" : [1, "z"] }}, "s": "caf\\u00e9"}'

    def v(ptr: str) -> Value:
        return one(state, payload, f"ctb.value[{ptr}]")

    assert v("/a~1b/m~0n/1/x") == "y"  # ~1 = '/', ~0 = '~'
    assert v("/a~1b/m~0n/0") == "10"
    assert v("/a~1b/f") == "1048576.0"  # numbers as written
    assert v("/a~1b/o") == '{"k":[1,"z"]}'  # compact JSON as written
    assert v("/s") == "caf\u00e9"  # strings unquoted and decoded
    assert v("/a~1b/m~0n/2") is None
    assert v("/a~1b/m~0n/01") is None
    assert v("/a~1b/m~0n/-") is None
    assert v("/nope") is None
    assert v("/s/x") is None
    assert v("") == '{"a/b":{"m~n":[10,{"x":"y"}],"f":1048576.0,"o":{"k":[1,"z"]}},"s":"caf\\u00e9"}'
    with pytest.raises(PluginError, match="invalid JSON pointer"):
        v("a/b")
    with pytest.raises(PluginError, match="invalid JSON pointer"):
        v("/a~2")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"eventName": "X"', "invalid JSON at offset 17"),
        (b'{"eventName": "X",}', "invalid JSON at offset 18"),
        (b"", "invalid JSON at offset 0"),
        (b"   ", "invalid JSON at offset 3"),
        (b'{"a": 1} {"b": 2}', "invalid JSON at offset 9"),
        (b'{"a": tru}', "invalid JSON at offset"),
        (b'{"a": "x\x00y"}', "invalid JSON at offset 8: NUL byte"),
        (b"[" * 2000 + b"]" * 2000, "nesting deeper than 1024 levels"),
    ],
)
def test_invalid_json_fails_the_call(state: PluginState, payload: bytes, message: str) -> None:
    # §1: the whole extract call fails with an error naming the problem and the offset
    with pytest.raises(PluginError, match=message.replace("[", r"\[")):
        get(state, payload, "ct.name")


def test_nul_bytes_at_both_ends_are_trimmed(state: PluginState) -> None:
    payload = b"\x00\x00" + rec("s3_getobject") + b"\x00"
    assert get(state, payload, "ct.name", "s3.bytes") == ["GetObject", 2048]


def test_plugin_keeps_working_after_bad_input(state: PluginState) -> None:
    with pytest.raises(PluginError):
        get(state, b"{not json", "ct.name")
    assert one(state, rec("ec2_runinstances"), "ec2.imageids") == ["ami-A", "ami-A"]


def test_non_object_roots(state: PluginState) -> None:
    # Valid JSON that is not an object: every path is missing; ct.info says why
    assert get(state, b"[1, 2]", "ct.name", "s3.cnt.other", "ct.info", "ctb.value[/0]") == [
        None, 1, "<invalid cloudtrail event: userIdentity field missing>", "1",
    ]
    assert get(state, b'"text"', "ct.name", "ctb.value[]") == [None, "text"]
