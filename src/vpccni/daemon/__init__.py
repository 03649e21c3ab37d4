"""ipamd, the node daemon: the engine in real time behind gRPC, a fast local endpoint, metrics and introspection."""
