"""`python -m saliency_client.web`: the same as `saliency-web`."""

import sys

from saliency_client.web.cli import main

sys.exit(main())
