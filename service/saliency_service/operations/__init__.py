"""What one RPC computes, over a batch of already-validated images: no protobuf, no gRPC."""
