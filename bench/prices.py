"""The list prices the bill is priced at: US East (N. Virginia), x86, USD, each with where and when it was read.

Free tiers are left out: at Segment's volumes they round to nothing. Every
price is the first tier of its volume tiers (Lambda's first 6 billion
GB-seconds a month, API Gateway's first 333 million requests, CloudWatch
Logs' first 10 TB of Lambda logs).
"""

from dataclasses import dataclass

READ_ON = "2026-12-04"


@dataclass(frozen=True)
class Price:
    usd: float
    per: str
    source: str


API_GATEWAY_REQUEST = Price(3.50 / 1e6, "REST API request", "https://aws.amazon.com/api-gateway/pricing/")
LAMBDA_REQUEST = Price(0.20 / 1e6, "Lambda request", "https://aws.amazon.com/lambda/pricing/")
LAMBDA_GB_SECOND = Price(
    0.0000166667, "Lambda GB-second (x86; duration billed per 1 ms)", "https://aws.amazon.com/lambda/pricing/"
)
# On-demand throughput prices since 2024-11-01, half what they were before.
DYNAMODB_WRITE_REQUEST_UNIT = Price(
    0.625 / 1e6, "DynamoDB write request unit (on-demand)", "https://aws.amazon.com/dynamodb/pricing/on-demand/"
)
DYNAMODB_READ_REQUEST_UNIT = Price(
    0.125 / 1e6, "DynamoDB read request unit (on-demand)", "https://aws.amazon.com/dynamodb/pricing/on-demand/"
)
DYNAMODB_WCU_HOUR = Price(
    0.00065, "DynamoDB WCU-hour (provisioned)", "https://aws.amazon.com/dynamodb/pricing/provisioned/"
)
DYNAMODB_RCU_HOUR = Price(
    0.00013, "DynamoDB RCU-hour (provisioned)", "https://aws.amazon.com/dynamodb/pricing/provisioned/"
)
SNS_REQUEST = Price(0.50 / 1e6, "SNS publish request (per 64 KB chunk)", "https://aws.amazon.com/sns/pricing/")
# Lambda's logs are billed as vended logs since 2025-05-01, at this price for their first 10 TB a month.
CLOUDWATCH_LOGS_GB = Price(
    0.50, "CloudWatch Logs GB ingested (Standard class; GB = 2^30 bytes)", "https://aws.amazon.com/cloudwatch/pricing/"
)
PRICES = (
    API_GATEWAY_REQUEST,
    LAMBDA_REQUEST,
    LAMBDA_GB_SECOND,
    DYNAMODB_WRITE_REQUEST_UNIT,
    DYNAMODB_READ_REQUEST_UNIT,
    DYNAMODB_WCU_HOUR,
    DYNAMODB_RCU_HOUR,
    SNS_REQUEST,
    CLOUDWATCH_LOGS_GB,
)

# Application Auto Scaling's default target for DynamoDB: capacity kept at 1/0.7 of what is used
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/AutoScaling.html).
AUTO_SCALING_TARGET_UTILIZATION = 0.7
