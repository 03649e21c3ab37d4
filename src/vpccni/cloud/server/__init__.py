"""`vpccni cloud serve`: the simulated VPC as an EC2-compatible HTTP endpoint (Query protocol) plus IMDSv2.

The server holds no VPC state of its own: every request becomes one call on `vpccni.cloud.sim`.
"""

from vpccni.cloud.server.account import (
    AccountError,
    AccountLayout,
    AccountOptions,
    SubnetLayout,
    TrailWriter,
    open_account,
    parse_subnet_flag,
    summary,
)
from vpccni.cloud.server.httpd import CloudServer

__all__ = [
    "AccountError",
    "AccountLayout",
    "AccountOptions",
    "CloudServer",
    "SubnetLayout",
    "TrailWriter",
    "open_account",
    "parse_subnet_flag",
    "summary",
]
