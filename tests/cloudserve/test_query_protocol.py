"""EC2's Query protocol on the wire: what malformed, unauthenticated or unsupported requests get back.

Every answer is an XML document: EC2's error document with the right code and HTTP status, never a 500
or a traceback. Raw HTTP here, because a well-behaved SDK never sends most of these.
"""

from __future__ import annotations

import http.client
import urllib.parse

import pytest
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cloudserve.conftest import FAKE_SIGNATURE, NS, Served, form, raw
from vpccni.cloud.errors import Ec2Error
from vpccni.cloud.server import model, query, xmlwire

ERRORS: list[tuple[str, str, dict[str, str], int, str, str]] = [
    # (name, body, extra headers, status, code, message)
    ("no action", form(), {}, 400, "MissingAction", "The request must contain the parameter Action"),
    (
        "no version",
        "Action=DescribeVpcs",
        {},
        400,
        "MissingParameter",
        "The request must contain the parameter Version",
    ),
    (
        "unknown action",
        form(Action="LaunchRocket"),
        {},
        400,
        "InvalidAction",
        "The action LaunchRocket is not valid for this web service.",
    ),
    (
        "EC2 action not served",
        form(Action="DescribeSecurityGroups"),
        {},
        400,
        "InvalidAction",
        "The action DescribeSecurityGroups is not valid for this web service"
        " (vpccni cloud serve does not implement it).",
    ),
    (
        "unknown parameter",
        form(Action="DescribeVpcs", Bogus="1"),
        {},
        400,
        "UnknownParameter",
        "The parameter Bogus is not recognized",
    ),
    (
        "unknown nested parameter",
        form(Action="DescribeVpcs", Filter__1__Bogus="x"),
        {},
        400,
        "UnknownParameter",
        "The parameter Filter.1.Bogus is not recognized",
    ),
    (
        "wrong type",
        form(Action="DescribeNetworkInterfaces", MaxResults="ten"),
        {},
        400,
        "InvalidParameterValue",
        "Value (ten) for parameter MaxResults is invalid. Expected an integer.",
    ),
    (
        "wrong boolean",
        form(Action="DescribeVpcs", DryRun="maybe"),
        {},
        400,
        "InvalidParameterValue",
        "Value (maybe) for parameter DryRun is invalid. Expected true or false.",
    ),
    (
        "missing required",
        form(Action="AttachNetworkInterface", NetworkInterfaceId="eni-1", InstanceId="i-1"),
        {},
        400,
        "MissingParameter",
        "The request must contain the parameter DeviceIndex",
    ),
    (
        "list index zero",
        form(Action="DescribeNetworkInterfaces", NetworkInterfaceId__0="eni-1"),
        {},
        400,
        "InvalidParameterValue",
        "The list index in NetworkInterfaceId.0 must be a number from 1 to 10000",
    ),
    (
        "scalar given as a list",
        form(Action="DescribeNetworkInterfaces", MaxResults__1="5"),
        {},
        400,
        "UnknownParameter",
        "The parameter MaxResults.1 is not recognized",
    ),
    (
        "value and list at once",
        "Action=DescribeVpcs&Version=2016-11-15&Filter=1&Filter.1.Name=x",
        {},
        400,
        "InvalidParameterValue",
        "The parameter Filter is given both as a value and as a list",
    ),
    (
        "malformed form body",
        "Action=DescribeVpcs&Version=2016-11-15&justaword",
        {},
        400,
        "InvalidParameterValue",
        "The request is not a well-formed form-encoded query: bad query field: 'justaword'",
    ),
    (
        "repeated parameter",
        "Action=DescribeVpcs&Version=2016-11-15&Action=DescribeSubnets",
        {},
        400,
        "InvalidParameterValue",
        "The parameter Action is given more than once",
    ),
    (
        "not a form",
        '{"Action": "DescribeVpcs"}',
        {"Content-Type": "application/json"},
        400,
        "InvalidParameterValue",
        "Content-Type must be application/x-www-form-urlencoded, not 'application/json'",
    ),
    (
        "unsupported parameter",
        form(Action="ModifyNetworkInterfaceAttribute", NetworkInterfaceId="eni-1", SourceDestCheck__Value="false"),
        {},
        400,
        "UnsupportedOperation",
        "vpccni cloud serve does not model SourceDestCheck of ModifyNetworkInterfaceAttribute",
    ),
    (
        "dry run",
        form(Action="DescribeVpcs", DryRun="true"),
        {},
        412,
        "DryRunOperation",
        "Request would have succeeded, but DryRun flag is set.",
    ),
    (
        "filter without values",
        form(Action="DescribeSubnets", Filter__1__Name="vpc-id"),
        {},
        400,
        "InvalidParameterValue",
        "The filter 'vpc-id' has no values (Filter.1.Value.1)",
    ),
    (
        "unknown filter on an empty result",
        form(Action="DescribeNetworkInterfaces", Filter__1__Name="colour", Filter__1__Value__1="red"),
        {},
        400,
        "InvalidParameterValue",
        "The filter 'colour' is invalid",
    ),
    (
        "bad page token",
        form(Action="DescribeSubnets", NextToken="bm90LWEtdG9rZW4="),
        {},
        400,
        "InvalidPaginationToken",
        "The specified pagination token is not valid or is expired.",
    ),
    (
        "page size out of range",
        form(Action="DescribeInstanceTypes", MaxResults="101"),
        {},
        400,
        "InvalidParameterValue",
        "Value (101) for parameter maxResults is invalid. Expecting a value between 5 and 100.",
    ),
    (
        "ids with a page size",
        form(Action="DescribeInstances", InstanceId__1="i-1", MaxResults="5"),
        {},
        400,
        "InvalidParameterCombination",
        "The parameter InstanceIds cannot be used with the parameter maxResults",
    ),
]


@pytest.mark.parametrize(
    ("body", "headers", "status", "code", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_bad_requests_get_ec2_error_documents(
    served: Served, body: str, headers: dict[str, str], status: int, code: str, message: str
) -> None:
    reply = raw(served.url, body=body, headers=headers)
    assert (reply.status, *reply.error()) == (status, code, message)
    assert reply.headers["content-type"] == "text/xml;charset=UTF-8"
    assert reply.xml.findtext("RequestID") == reply.headers["x-amzn-requestid"]
    assert b"Traceback" not in reply.body


def test_no_authorization_is_auth_failure(served: Served) -> None:
    reply = raw(served.url, body=form(Action="DescribeVpcs"), auth=False)
    assert (reply.status, *reply.error()) == (
        401,
        "AuthFailure",
        "AWS was not able to validate the provided access credentials",
    )
    assert served.trail() == []  # refused before it reached the cloud


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer abc", "Authorization header must use AWS4-HMAC-SHA256, not 'Bearer'"),
        (
            f"AWS4-HMAC-SHA256 SignedHeaders=host, Signature={FAKE_SIGNATURE}",
            "Authorization header requires 'Credential' parameter",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AK/20260101/us-west-2/ec2/aws4_request, SignedHeaders=host, Signature=xyz",
            "Authorization header Signature must be 64 hexadecimal digits",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential=AK/yesterday/us-west-2/ec2/aws4_request, SignedHeaders=host, "
            f"Signature={FAKE_SIGNATURE}",
            "Credential should be scoped with a date as YYYYMMDD, not 'yesterday'",
        ),
    ],
)
def test_malformed_signature_is_incomplete_signature(served: Served, header: str, message: str) -> None:
    reply = raw(served.url, body=form(Action="DescribeVpcs"), headers={"Authorization": header}, auth=False)
    assert (reply.status, *reply.error()) == (400, "IncompleteSignature", message)


def test_oversized_body_is_refused_unread(served: Served) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", served.server.port, timeout=10)
    try:
        connection.putrequest("POST", "/")
        connection.putheader("Content-Length", str(2 * 1024 * 1024))
        connection.putheader("Content-Type", "application/x-www-form-urlencoded")
        connection.endheaders()  # no body follows: the server must answer without waiting for it
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 413
    assert b"<Code>RequestEntityTooLarge</Code>" in body
    assert b"The request body of 2097152 bytes exceeds 1048576 bytes." in body


def test_get_with_query_and_presigned_credentials(served: Served) -> None:
    query = urllib.parse.urlencode(
        {
            "Action": "DescribeVpcs",
            "Version": "2016-11-15",
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": "AKIDPRESIGNED/20260101/us-west-2/ec2/aws4_request",
            "X-Amz-Date": "20260101T000000Z",
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Signature": FAKE_SIGNATURE,
        }
    )
    reply = raw(served.url, method="GET", path=f"/?{query}", auth=False, headers={"User-Agent": "curl/8"})
    assert reply.status == 200
    root = reply.xml
    assert root.tag == f"{NS}DescribeVpcsResponse"
    assert root.findtext(f"{NS}requestId") == reply.headers["x-amzn-requestid"]
    assert [v.findtext(f"{NS}cidrBlock") for v in root.iterfind(f"{NS}vpcSet/{NS}item")] == ["10.0.0.0/16"]
    (event,) = served.trail()
    assert event["userIdentity"]["accessKeyId"] == "AKIDPRESIGNED"
    assert event["userAgent"] == "curl/8" and event["requestID"] == reply.headers["x-amzn-requestid"]


def test_method_other_than_get_or_post(served: Served) -> None:
    reply = raw(served.url, method="DELETE", body=form(Action="DescribeVpcs"))
    assert (reply.status, reply.error()[0]) == (405, "InvalidAction")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.text(max_size=300) | st.binary(max_size=300))
def test_any_body_gets_an_xml_answer_never_a_500(served: Served, body: str | bytes) -> None:
    reply = raw(served.url, body=body)
    assert reply.status in (200, 400, 412), reply.body
    root = reply.xml  # always XML
    assert root.tag == "Response" or root.tag.endswith("Response")


# --- the decoder against botocore's own serializer, the XML writer against botocore's own parser --------
_names = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz-:."), min_size=1, max_size=12)
_values = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\t\n"), max_size=20)
ENI_QUERY = st.fixed_dictionaries(
    {},
    optional={
        "NetworkInterfaceIds": st.lists(_values, min_size=1, max_size=4),
        "Filters": st.lists(
            st.fixed_dictionaries({"Name": _names, "Values": st.lists(_values, min_size=1, max_size=3)}),
            min_size=1,
            max_size=3,
        ),
        "MaxResults": st.integers(-(2**31), 2**31 - 1),
        "NextToken": _values,
        "DryRun": st.booleans(),
    },
)


_tags = st.lists(st.fixed_dictionaries({"Key": _values, "Value": _values}), min_size=1, max_size=3)
RUN_QUERY = st.fixed_dictionaries(
    {"MinCount": st.integers(0, 50), "MaxCount": st.integers(0, 50)},
    optional={
        "ImageId": _values,
        "InstanceType": _values,
        "SubnetId": _values,
        "SecurityGroupIds": st.lists(_values, min_size=1, max_size=3),
        "TagSpecifications": st.lists(
            st.fixed_dictionaries({"ResourceType": st.sampled_from(["instance", "volume"]), "Tags": _tags}),
            min_size=1,
            max_size=2,
        ),
        "Placement": st.fixed_dictionaries({"AvailabilityZone": _values}),
    },
)


@settings(max_examples=200, deadline=None)
@given(case=st.tuples(st.just("DescribeNetworkInterfaces"), ENI_QUERY) | st.tuples(st.just("RunInstances"), RUN_QUERY))
def test_decoding_inverts_botocores_serializer(case: tuple[str, dict[str, object]]) -> None:
    action, params = case
    operation = model.operation(action)
    request = create_serializer("ec2", include_validation=False).serialize_to_request(params, operation)
    wire = query.parse_form(urllib.parse.urlencode(request["body"]))
    assert wire.pop("Action") == action and wire.pop("Version") == "2016-11-15"
    assert query.decode(operation.input_shape, wire) == params


RECORDS = st.fixed_dictionaries(
    {
        "NetworkInterfaceId": _values,
        "Status": st.sampled_from(["available", "in-use"]),
        "RequesterManaged": st.booleans(),
        "PrivateIpAddresses": st.lists(
            st.fixed_dictionaries({"PrivateIpAddress": _values, "Primary": st.booleans()}), max_size=4
        ),
        "TagSet": st.lists(st.fixed_dictionaries({"Key": _values, "Value": _values}), max_size=3),
        "Attachment": st.fixed_dictionaries({"DeviceIndex": st.integers(0, 99), "Status": _values}),
    }
)


@settings(max_examples=150, deadline=None)
@given(enis=st.lists(RECORDS, max_size=4), token=st.none() | _values.filter(bool))
def test_botocore_parses_our_xml_back_to_the_same_data(enis: list[dict[str, object]], token: str | None) -> None:
    operation = model.operation("DescribeNetworkInterfaces")
    data = {"NetworkInterfaces": enis, "NextToken": token}
    document = xmlwire.response_document("DescribeNetworkInterfaces", operation.output_shape, data, "rid-7")
    parsed = create_parser("ec2").parse({"body": document, "headers": {}, "status_code": 200}, operation.output_shape)
    assert parsed.pop("ResponseMetadata")["RequestId"] == "rid-7"
    assert parsed == {k: v for k, v in data.items() if v is not None}


def test_every_served_action_is_an_ec2_action_with_known_members() -> None:
    """The action table names only EC2 actions and only members of their input shapes."""
    from vpccni.cloud.server.dispatch import OPERATIONS

    service: ServiceModel = model.service_model()
    assert len(OPERATIONS) == 19
    for name, operation in OPERATIONS.items():
        members = set(service.operation_model(name).input_shape.members)
        assert operation.uses | operation.ignores <= members, name


def test_error_document_is_ec2s() -> None:
    document = xmlwire.error_document("AttachmentLimitExceeded", "Interface count 4 exceeds the limit", "rid-1")
    parsed = create_parser("ec2").parse(
        {"body": document, "headers": {}, "status_code": 400}, model.operation("AttachNetworkInterface").output_shape
    )
    assert parsed["Error"] == {"Code": "AttachmentLimitExceeded", "Message": "Interface count 4 exceeds the limit"}
    assert parsed["ResponseMetadata"]["RequestId"] == "rid-1"


def test_values_xml_cannot_carry_are_refused_on_the_way_in(served: Served) -> None:
    body = form(Action="CreateTags", ResourceId__1=served.subnet_id("tiny"), Tag__1__Key="k", Tag__1__Value="a\x01b")
    reply = raw(served.url, body=body)
    assert (reply.status, *reply.error()) == (
        400,
        "InvalidParameterValue",
        "Value for parameter Tag.1.Value contains a control character",
    )
    with pytest.raises(Ec2Error) as info:
        query.parse_form("a=1&a=2")
    assert (info.value.code, info.value.http_status) == ("InvalidParameterValue", 400)


def test_xml_writer_never_emits_what_xml_cannot_carry() -> None:
    operation = model.operation("DescribeVpcs")
    document = xmlwire.response_document(
        "DescribeVpcs", operation.output_shape, {"Vpcs": [{"VpcId": "vpc-\x1b1", "CidrBlock": "a\rb"}]}, "r"
    )
    parsed = create_parser("ec2").parse({"body": document, "headers": {}, "status_code": 200}, operation.output_shape)
    assert parsed["Vpcs"] == [{"VpcId": "vpc-\ufffd1", "CidrBlock": "a\ufffdb"}]


def test_an_internal_failure_is_500_internal_error_without_details(
    served: Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from vpccni.cloud.server import dispatch
    from vpccni.cloud.server.operations import op

    def broken(call: object, params: object) -> dict[str, object]:
        raise RuntimeError("secret detail")

    monkeypatch.setitem(dispatch.OPERATIONS, "DescribeVpcs", op("DescribeVpcs", broken, ()))
    with caplog.at_level("ERROR", logger="vpccni.cloud.server"):
        reply = raw(served.url, body=form(Action="DescribeVpcs"))
    assert (reply.status, *reply.error()) == (500, "InternalError", "An internal error has occurred.")
    assert b"secret detail" not in reply.body and b"Traceback" not in reply.body
    assert "secret detail" in caplog.text  # the server's log has it, with the traceback
