"""`saliency-web`: a web page for every model, method and attack of one or more saliency-servers.

Needs the `web` extra (`pip install 'saliency-client[web]'`: Starlette, uvicorn, Pillow). The
page is plain files shipped in this package; everything it shows comes from the servers through
`AsyncSaliencyClient`.
"""

try:
    import PIL  # noqa: F401
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as missing:  # the extra is not installed
    raise ImportError(
        f"saliency-web needs {missing.name}: pip install 'saliency-client[web]'"
    ) from missing
