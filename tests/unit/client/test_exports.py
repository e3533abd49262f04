"""The public surface is exactly `__all__` (as httpx's test_exported_members)."""

from __future__ import annotations

import types

import saliency_client


def test_all_lists_exactly_the_public_names_in_order() -> None:
    public = [
        name
        for name, value in vars(saliency_client).items()
        if (not name.startswith("_") or name == "__version__")
        and not isinstance(value, types.ModuleType)
    ]
    assert saliency_client.__all__ == sorted(public, key=str.casefold)


def test_every_exported_error_is_a_saliency_error() -> None:
    errors = [getattr(saliency_client, name) for name in saliency_client.__all__
              if isinstance(getattr(saliency_client, name), type)
              and issubclass(getattr(saliency_client, name), BaseException)]
    assert len(errors) == 17
    assert all(issubclass(error, saliency_client.SaliencyError) for error in errors)
