"""The cluster-level view of ipamd's metrics: the reference cni-metrics-helper's aggregation and names.

Each node's `awscni_*` metrics (scraped from its `/metrics`, or read from the engine's sink in the cluster
simulator) are aggregated under the helper's CloudWatch names (`names.py`) by one stateful aggregator
(`aggregate.py`), then published to CloudWatch (`cloudwatch.py`) and on the helper's own Prometheus endpoint
(`exporter.py`). `helper.py` runs the poll loop; `targets.py` finds and fetches the nodes; `simulated.py`
gives the cluster simulator the same figures for its time series. Nothing is imported here: the CLI
reads `names` at start-up and should not pay for the parser.
"""
