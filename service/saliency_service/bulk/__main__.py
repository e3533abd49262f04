"""`python -m saliency_service.bulk`: the same as `saliency bulk` and `saliency-bulk`."""

import sys

from saliency_service.bulk.cli import main

sys.exit(main())
