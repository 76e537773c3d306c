"""chalicelib/aws under the faults the matrix injects."""

from __future__ import annotations

from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

from chalicelib.aws.calls import error_code


def test_error_code_names_a_timeout_whose_response_is_none():
    # botocore's timeouts are also requests' exceptions: their ``response`` is None, not absent.
    timeout = ReadTimeoutError(endpoint_url="https://ssm.us-east-1.amazonaws.com")
    assert timeout.response is None
    assert error_code(timeout) == "ReadTimeoutError"
    assert error_code(ConnectTimeoutError(endpoint_url="https://x")) == "ConnectTimeoutError"


def test_error_code_is_the_aws_code_of_a_client_error():
    err = ClientError({"Error": {"Code": "ThrottlingException"}}, "GetParameter")
    assert error_code(err) == "ThrottlingException"
    assert error_code(ValueError("x")) == "ValueError"
