#!/usr/bin/env bash
# `make demo`'s real-client section: serve the simulated VPC, then awscli meets limits moto would not enforce.
# Usage: scripts/demo-real-client.sh BIN_DIR   (the venv's bin directory, holding vpccni, aws and python)
set -euo pipefail
bin=${1:?usage: $0 BIN_DIR}
export AWS_ACCESS_KEY_ID=AKIDDEMO AWS_SECRET_ACCESS_KEY=not-checked AWS_DEFAULT_REGION=us-west-2
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
ready=$(mktemp)
"$bin/vpccni" cloud serve --port 0 --json --subnet nodes=10.0.2.0/24 --subnet tiny=10.0.1.0/28 >"$ready" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -f "$ready"' EXIT
for _ in $(seq 100); do [ -s "$ready" ] || ! kill -0 "$server" 2>/dev/null && break; sleep 0.1; done
read -r endpoint tiny < <("$bin/python" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["endpoint"], next(s["subnet_id"] for s in d["subnets"] if s["name"] == "tiny"))' "$ready")
aws() { "$bin/aws" ec2 --endpoint-url "$endpoint" --output text "$@"; }

echo "== real client: awscli against vpccni cloud serve on $endpoint"
echo "\$ aws ec2 describe-instance-types --instance-types m5.large   # ENIs x addresses per ENI"
aws describe-instance-types --instance-types m5.large \
  --query 'InstanceTypes[0].NetworkInfo.[MaximumNetworkInterfaces,Ipv4AddressesPerInterface]'
echo "\$ aws ec2 describe-subnets --subnet-ids $tiny   # a /28: 16 addresses, 5 reserved by AWS"
aws describe-subnets --subnet-ids "$tiny" --query 'Subnets[0].[CidrBlock,AvailableIpAddressCount]'
echo "\$ aws ec2 create-network-interface --subnet-id $tiny --secondary-private-ip-address-count 11"
if aws create-network-interface --subnet-id "$tiny" --secondary-private-ip-address-count 11 2>&1 >/dev/null; then
  echo "unexpected: the /28 gave 12 addresses" >&2
  exit 1
fi
echo "(refused as EC2 refuses it; moto would hang or hand out addresses the subnet does not have)"
