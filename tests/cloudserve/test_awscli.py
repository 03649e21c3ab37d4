"""awscli (`aws ec2 ... --endpoint-url`) against `vpccni cloud serve`: the limits moto would not enforce.

awscli v1 exits 255 on a service error and prints it on stderr after a blank line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SCRIPT = """
set -u
aws() { "$AWS" ec2 --endpoint-url "$ENDPOINT" --output text "$@"; }
echo "limits: $(aws describe-instance-types --instance-types m5.large \\
  --query 'InstanceTypes[0].NetworkInfo.[MaximumNetworkInterfaces,Ipv4AddressesPerInterface]')"
instance=$(aws run-instances --image-id ami-12345678 --instance-type m5.large --count 1 --subnet-id "$NODES" \\
  --query 'Instances[0].InstanceId')
for device in 1 2 3; do
  eni=$(aws create-network-interface --subnet-id "$NODES" --query 'NetworkInterface.NetworkInterfaceId')
  aws attach-network-interface --network-interface-id "$eni" --instance-id "$instance" --device-index "$device" \\
    --query AttachmentId >/dev/null 2>"$ERR" || { echo "attach $device: exit $?: $(tr -s "\\n" " " < "$ERR")"; }
done
aws create-network-interface --subnet-id "$TINY" --secondary-private-ip-address-count 11 >/dev/null 2>"$ERR" \\
  || echo "tiny: exit $?: $(tr -s "\\n" " " < "$ERR")"
echo "free in tiny: $(aws describe-subnets --subnet-ids "$TINY" --query 'Subnets[0].AvailableIpAddressCount')"
"""


def test_awscli_script(serve_process: Any, aws_env: dict[str, str], tmp_path: Path) -> None:
    served = serve_process("--no-latency", "--subnet", "nodes=10.0.2.0/24", "--subnet", "tiny=10.0.1.0/28")
    env = {
        **os.environ,
        **aws_env,
        "AWS": str(Path(sys.executable).with_name("aws")),
        "ENDPOINT": served.url,
        "NODES": served.subnet_id("nodes"),
        "TINY": served.subnet_id("tiny"),
        "ERR": str(tmp_path / "stderr"),
    }
    result = subprocess.run(["bash", "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [" ".join(line.split()) for line in result.stdout.splitlines() if line.strip()] == [
        "limits: 3 10",
        "attach 3: exit 255: An error occurred (AttachmentLimitExceeded) when calling the AttachNetworkInterface "
        "operation: Interface count 4 exceeds the limit for m5.large",
        "tiny: exit 255: An error occurred (InsufficientFreeAddressesInSubnet) when calling the "
        "CreateNetworkInterface operation: insufficient free address to allocate 12 address(es)",
        "free in tiny: 11",
    ]
    assert served.terminate() == 0
