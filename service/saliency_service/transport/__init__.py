"""The gRPC edge: the only place (with the client) that knows protobuf."""
