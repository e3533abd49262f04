"""Fair shares between tenants: whose waiting images go into the next batch.

Start-time fair queueing, simplified (Goyal et al. 1996): every tenant has a `served` count of
the estimated device-seconds dispatched for it, and among waiting images of equal priority the
least-served tenant goes first. A tenant that had nothing waiting catches up to the virtual clock
(the served count of the last tenant dispatched) when it sends again, so idle time earns no
credit and a newcomer goes ahead of a backlog at once, without starving it: a tenant with a deep
backlog and one sending now alternate, cost for cost.

A tenant is whoever the server can tell apart: the bearer token when auth is on, else the peer
(address and port of the connection). Entries are dropped once a tenant has nothing waiting and
no debt above the clock, so the table stays as small as the set of active tenants.
"""

from __future__ import annotations

from collections import Counter


class FairShare:
    """Per-tenant service counts; used on the event loop only."""

    def __init__(self) -> None:
        self._clock = 0.0
        self._served: dict[str, float] = {}
        self._waiting: Counter[str] = Counter()

    def served(self, tenant: str) -> float:
        """Estimated device-seconds dispatched for `tenant` (at least the clock when new)."""
        return self._served.get(tenant, self._clock)

    def arrive(self, tenant: str, count: int) -> None:
        """`count` images of `tenant` start waiting."""
        if not self._waiting[tenant]:
            self._served[tenant] = max(self._served.get(tenant, self._clock), self._clock)
        self._waiting[tenant] += count

    def depart(self, tenant: str, cost: float = 0.0) -> None:
        """One image of `tenant` leaves the queue: dispatched (charged `cost`) or dropped."""
        served = self.served(tenant)
        if cost > 0:
            self._clock = max(self._clock, served)
        self._served[tenant] = served + cost
        self._waiting[tenant] -= 1
        if self._waiting[tenant] <= 0:
            del self._waiting[tenant]
            self._prune()

    def _prune(self) -> None:
        idle = [t for t, s in self._served.items() if t not in self._waiting and s <= self._clock]
        for tenant in idle:
            del self._served[tenant]
