"""The built-in demo model: synthetic shapes data, a small CAM-ready CNN and its training script."""
