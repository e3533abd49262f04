"""saliency-service: a gRPC service that explains and attacks image classifiers."""
