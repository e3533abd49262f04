"""What the running application holds: its settings, its images and a client per target."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from saliency_client.async_client import AsyncSaliencyClient
from saliency_client.gallery import DEFAULT_CONCURRENCY
from saliency_client.web.fields import BadRequest, Fields
from saliency_client.web.store import ImageStore, StoredImage
from saliency_client.web.targets import Target


@dataclass
class Settings:
    """What `saliency-web` was started with."""

    targets: dict[str, Target]
    max_upload_bytes: int = 16 * 2**20
    max_held_bytes: int = 256 * 2**20
    timeout: float = 120.0
    """Seconds per call to a server."""
    concurrency: int = DEFAULT_CONCURRENCY


@dataclass
class WebState:
    """The running application's state: settings, images, and a client per target."""

    settings: Settings
    store: ImageStore
    clients: dict[str, AsyncSaliencyClient] = field(default_factory=dict)

    def client(self, name: str) -> tuple[Target, AsyncSaliencyClient]:
        """The target with this name and its open client.

        Raises:
            BadRequest: no target has that name.
        """
        if name not in self.clients:
            raise BadRequest("unknown target; the page lists the configured ones")
        return self.settings.targets[name], self.clients[name]


def state_of(request: Request) -> WebState:
    """The application's state, as the routes see it."""
    state: WebState = request.app.state.web
    return state


@dataclass(frozen=True)
class Call:
    """A call of the page: its JSON fields, and the target, client and model they name."""

    state: WebState
    fields: Fields
    target: Target
    client: AsyncSaliencyClient
    model: str

    @classmethod
    async def read(cls, request: Request) -> Call:
        """Read the body and look up its "target" and "model".

        Raises:
            BadRequest: a bad body, an unknown target, no model.
        """
        state = state_of(request)
        fields = await Fields.read(request)
        target, client = state.client(fields.text("target"))
        return cls(state, fields, target, client, fields.text("model"))

    def image(self) -> StoredImage:
        """The image the call names in "image"."""
        return self.state.store.get(self.fields.text("image"))
