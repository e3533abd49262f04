import sys

from saliency_service.cli import main

sys.exit(main())
