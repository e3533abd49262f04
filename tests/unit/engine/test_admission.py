"""Admission by cost: the server's limits, a tenant's share, idle servers, partial releases."""

from __future__ import annotations

import pytest
from saliency_service.engine.admission import Admission
from saliency_service.errors import Overloaded


def test_work_is_admitted_up_to_the_limit_in_seconds_then_refused_as_busy() -> None:
    admission = Admission(max_images=100, max_seconds=10.0, tenant_share=1.0)
    admission.admit("a", 1, 6.0)
    admission.admit("b", 1, 4.0)
    with pytest.raises(Overloaded, match="busy") as refused:
        admission.admit("c", 1, 0.5)
    assert refused.value.busy
    assert admission.seconds == pytest.approx(10.0)


def test_the_image_limit_counts_images_not_requests() -> None:
    admission = Admission(max_images=4, max_seconds=1e9, tenant_share=1.0)
    admission.admit("a", 3, 0.0)
    with pytest.raises(Overloaded, match="4"):
        admission.admit("b", 2, 0.0)
    admission.admit("b", 1, 0.0)


def test_an_idle_server_admits_one_request_larger_than_its_limit() -> None:
    admission = Admission(max_images=10, max_seconds=1.0, tenant_share=0.5)
    ticket = admission.admit("a", 1, 50.0)
    with pytest.raises(Overloaded):
        admission.admit("b", 1, 0.1)
    admission.release(ticket)
    admission.admit("b", 1, 0.1)


def test_one_tenant_holds_at_most_its_share_so_others_still_get_in() -> None:
    admission = Admission(max_images=100, max_seconds=10.0, tenant_share=0.5)
    admission.admit("flood", 1, 3.0)
    admission.admit("flood", 1, 2.0)
    with pytest.raises(Overloaded, match="your requests"):
        admission.admit("flood", 1, 1.0)
    admission.admit("other", 1, 4.0)


def test_releases_give_back_exactly_what_was_reserved() -> None:
    admission = Admission(max_images=100, max_seconds=10.0, tenant_share=1.0)
    ticket = admission.admit("a", 4, 8.0)
    admission.release(ticket, 1, 2.0)  # one image failed to decode
    assert (admission.images, admission.seconds) == (3, pytest.approx(6.0))
    admission.release(ticket)
    admission.release(ticket)  # a second release is harmless
    assert (admission.images, admission.seconds) == (0, 0.0)
    admission.admit("b", 1, 10.0)
