"""Admission: the work the server has accepted and not yet answered, counted by cost.

Every request is priced before any of its images is decoded (operations/cost.py): its images
and its estimated device-seconds. It is admitted when, with it, the accepted work stays within
the server's capacity (`max_queue_size` images, `max_queued_seconds` of device time) and its
tenant's part within `tenant_share` of that; otherwise it is refused at once with
RESOURCE_EXHAUSTED, marked as "busy" so that clients retry it later. A request arriving at an
idle server (or tenant) is admitted whatever its cost: the per-request cap, checked before this,
bounds it. The reservation shrinks as images fail to decode and ends when the request ends.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from saliency_service.errors import Overloaded


@dataclass
class Ticket:
    """One admitted request's reservation."""

    tenant: str
    images: int
    seconds: float


class Admission:
    """Accepted work, overall and per tenant; used on the event loop only."""

    def __init__(self, max_images: int, max_seconds: float, tenant_share: float) -> None:
        self.max_images = max_images
        self.max_seconds = max_seconds
        self.tenant_share = tenant_share
        self.images = 0
        self.seconds = 0.0
        self._tenant_images: Counter[str] = Counter()
        self._tenant_seconds: dict[str, float] = {}

    def admit(self, tenant: str, images: int, seconds: float) -> Ticket:
        """Reserve room for a request, or refuse it.

        Raises:
            Overloaded: the server, or this tenant's share of it, is full now (busy: retry).
        """
        if self.images and self.images + images > self.max_images:
            raise Overloaded(
                f"the server is busy: {self.images} images are accepted and the limit is "
                f"{self.max_images}; retry later",
                busy=True,
            )
        if self.images and self.seconds + seconds > self.max_seconds:
            raise Overloaded(
                f"the server is busy: {self.seconds:.1f} s of work is accepted and the limit is "
                f"{self.max_seconds:g} s; retry later",
                busy=True,
            )
        held_images = self._tenant_images[tenant]
        held_seconds = self._tenant_seconds.get(tenant, 0.0)
        share_images = self.tenant_share * self.max_images
        share_seconds = self.tenant_share * self.max_seconds
        if held_images and (
            held_images + images > share_images or held_seconds + seconds > share_seconds
        ):
            raise Overloaded(
                f"busy: your requests already hold {held_images} images and {held_seconds:.1f} s "
                f"of work, the most one client may hold is {share_images:.0f} images and "
                f"{share_seconds:g} s; retry when they finish",
                busy=True,
            )
        self._change(tenant, images, seconds)
        return Ticket(tenant, images, seconds)

    def release(
        self, ticket: Ticket, images: int | None = None, seconds: float | None = None
    ) -> None:
        """Give back part of a reservation (all of it by default)."""
        images = ticket.images if images is None else min(images, ticket.images)
        seconds = ticket.seconds if seconds is None else min(seconds, ticket.seconds)
        ticket.images -= images
        ticket.seconds -= seconds
        self._change(ticket.tenant, -images, -seconds)

    def _change(self, tenant: str, images: int, seconds: float) -> None:
        self.images += images
        self.seconds = max(0.0, self.seconds + seconds)
        self._tenant_images[tenant] += images
        held = max(0.0, self._tenant_seconds.get(tenant, 0.0) + seconds)
        if self._tenant_images[tenant] <= 0:
            del self._tenant_images[tenant]
            self._tenant_seconds.pop(tenant, None)
        else:
            self._tenant_seconds[tenant] = held
