"""`make bench`: what the service costs per event, at a cold start and in memory, next to the AWS SDK's floor.

Every comparison runs interleaved in one run (ours, floor, ours, floor, ...)
against a loopback stand-in for SNS and DynamoDB (`bench.stub`), and is given
as the median of the paired ratios, so that what else the machine is doing
weighs on both sides alike. The bill (`bench.bill`) runs the service against
moto instead, and prices the AWS calls it counts. See `python -m bench --help`.
"""
