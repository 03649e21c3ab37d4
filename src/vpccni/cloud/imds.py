"""Instance metadata read over HTTP as the reference's ipamd reads it: an IMDSv2 token, then one GET per path.

Used by the boto3 backend on an instance (the link-local service) or against `vpccni cloud serve`'s
`/imds/INSTANCE_ID/`. One keep-alive connection; the token is renewed before it expires and once more
when the service answers 401. Only plain HTTP, as the metadata service speaks.
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse

from vpccni.cloud.records import InstanceMetadata, MetadataEni

DEFAULT_ENDPOINT = "http://169.254.169.254/"
TOKEN_TTL = 21600


class ImdsError(Exception):
    """The metadata service could not be reached or did not answer as expected."""


def _lines(text: str | None) -> tuple[str, ...]:
    return tuple(line.strip() for line in (text or "").splitlines() if line.strip())


class ImdsClient:
    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, timeout: float = 2.0, token_ttl: int = TOKEN_TTL) -> None:
        parts = urllib.parse.urlsplit(endpoint)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{endpoint!r}: the metadata endpoint must be an http:// URL")
        self.endpoint = endpoint
        self._host = parts.hostname
        self._port = parts.port or 80
        self._base = parts.path.rstrip("/") + "/latest/"
        self._timeout = timeout
        self._token_ttl = token_ttl
        self._token = ""
        self._token_until = 0.0
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    # --- transport ---------------------------------------------------------------------------------
    def _request(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        """One request on the kept-alive connection, reopened once if the server closed it meanwhile."""
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            try:
                self._connection.request(method, self._base + path, headers=headers)
                response = self._connection.getresponse()
                return response.status, response.read().decode("utf-8", "replace")
            except (OSError, http.client.HTTPException) as exc:
                self._connection.close()
                self._connection = None
                if attempt == 2:
                    raise ImdsError(f"instance metadata at {self.endpoint}: {exc}") from None
        raise AssertionError("unreachable")

    def _fresh_token(self) -> str:
        if self._token and time.monotonic() < self._token_until:
            return self._token
        status, body = self._request("PUT", "api/token", {"X-aws-ec2-metadata-token-ttl-seconds": str(self._token_ttl)})
        if status != 200 or not body:
            raise ImdsError(f"instance metadata at {self.endpoint}: token request answered {status}")
        self._token = body.strip()
        self._token_until = time.monotonic() + self._token_ttl * 0.9
        return self._token

    def get(self, path: str) -> str | None:
        """The text at `latest/PATH` (e.g. `meta-data/mac`); None when the service has nothing there (404)."""
        with self._lock:
            for attempt in (1, 2):
                status, body = self._request("GET", path, {"X-aws-ec2-metadata-token": self._fresh_token()})
                if status == 401 and attempt == 1:
                    self._token = ""  # expired or revoked early: ask for a new one, once
                    continue
                if status == 404:
                    return None
                if status != 200:
                    raise ImdsError(f"instance metadata {path}: HTTP {status}")
                return body
        raise AssertionError("unreachable")

    def _required(self, path: str) -> str:
        value = self.get(path)
        if value is None:
            raise ImdsError(f"instance metadata {path}: not found")
        return value.strip()

    # --- the view ipamd reads (ipamd spec §11.1) ---------------------------------------------------
    def instance_metadata(self) -> InstanceMetadata:
        zone = self._required("meta-data/placement/availability-zone")
        region = (self.get("meta-data/placement/region") or zone[:-1]).strip()
        enis = []
        for entry in _lines(self.get("meta-data/network/interfaces/macs/")):
            eni = self._eni(entry.rstrip("/"))
            if eni is not None:
                enis.append(eni)
        return InstanceMetadata(
            instance_id=self._required("meta-data/instance-id"),
            instance_type=self._required("meta-data/instance-type"),
            availability_zone=zone,
            local_ipv4=self._required("meta-data/local-ipv4"),
            primary_mac=self._required("meta-data/mac"),
            region=region,
            enis=tuple(sorted(enis, key=lambda e: (e.network_card, e.device_number))),
        )

    def _eni(self, mac: str) -> MetadataEni | None:
        """One MAC's entry; None when it vanished between the listing and these reads (a detach)."""
        base = f"meta-data/network/interfaces/macs/{mac}/"
        device = self.get(base + "device-number")
        eni_id = self.get(base + "interface-id")
        if device is None or eni_id is None:
            return None
        return MetadataEni(
            mac=mac,
            eni_id=eni_id.strip(),
            device_number=int(device),
            network_card=int(self.get(base + "network-card") or 0),
            subnet_id=(self.get(base + "subnet-id") or "").strip(),
            subnet_cidr=(self.get(base + "subnet-ipv4-cidr-block") or "").strip(),
            vpc_id=(self.get(base + "vpc-id") or "").strip(),
            vpc_cidrs=_lines(self.get(base + "vpc-ipv4-cidr-blocks")),
            security_group_ids=_lines(self.get(base + "security-group-ids")),
            local_ipv4s=_lines(self.get(base + "local-ipv4s")),
            ipv4_prefixes=_lines(self.get(base + "ipv4-prefix")),
        )

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
