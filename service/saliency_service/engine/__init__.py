"""Where compute runs: worker threads per device, so the event loop never waits on it."""
