"""API Gateway REST (v1) proxy events, as the redirect Lambda receives them behind an edge API."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl


def rest_event(
    path: str,
    *,
    host: str,
    user_agent: str,
    query: str = "",
    method: str = "GET",
    resource: str = "/{slug}",
    source_ip: str = "203.0.113.7",
    country: str = "US",
    body: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A proxy event for ``path`` (e.g. ``/spring-sale``) routed to ``resource``."""
    headers = {
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Encoding": "gzip, deflate, br",
        "Accept-Language": "en-US,en;q=0.9",
        "CloudFront-Forwarded-Proto": "https",
        "CloudFront-Is-Desktop-Viewer": "true",
        "CloudFront-Is-Mobile-Viewer": "false",
        "CloudFront-Is-SmartTV-Viewer": "false",
        "CloudFront-Is-Tablet-Viewer": "false",
        "CloudFront-Viewer-Country": country,
        "Host": host,
        "User-Agent": user_agent,
        "Via": "2.0 3e1c4a0b6f5d.cloudfront.net (CloudFront)",
        "X-Amz-Cf-Id": "kXb2Yx3Qx0Jp0cHc6m0qYxgkQ4kX3gk4pQpXg9k3xQ==",
        "X-Amzn-Trace-Id": "Root=1-674a2b3c-0123456789abcdef01234567",
        "X-Forwarded-For": f"{source_ip}, 130.176.1.1",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        **(extra_headers or {}),
    }
    pairs = parse_qsl(query, keep_blank_values=True)
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    slug = path.lstrip("/")
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": {"slug": slug} if "{slug}" in resource else None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "a1b2c3",
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": "BcDeFgHiJkLmNo=",
            "requestTime": "23/Nov/2026:12:00:00 +0000",
            "path": f"/api{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "api",
            "domainPrefix": host.split(".")[0],
            "requestTimeEpoch": 1795003200000,
            "requestId": str(uuid.UUID(int=1)),
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": user_agent,
                "user": None,
            },
            "domainName": host,
            "apiId": "abcdef1234",
        },
        "body": body,
        "isBase64Encoded": False,
    }


class LambdaContext:
    """Enough of Lambda's context object for Chalice."""

    function_name = "rebound-local"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:rebound-local"
    aws_request_id = "00000000-0000-0000-0000-000000000001"
    log_group_name = "/aws/lambda/rebound-local"
    log_stream_name = "2026/11/23/[$LATEST]0"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000
