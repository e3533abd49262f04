"""Bulk jobs: explanations, attacks and robustness reports over whole data sets, on Ray Data.

    from saliency_service.bulk import BulkJob, run_bulk

    report = run_bulk(BulkJob("explain", "images/", Path("out"), method="grad_cam"))

Needs the `bulk` extra (`pip install 'saliency-service[bulk]'`): Ray Data and pyarrow.
"""

from saliency_service.bulk.job import BulkError, BulkJob
from saliency_service.bulk.pipeline import run_bulk

__all__ = ["BulkError", "BulkJob", "run_bulk"]
