"""The fastest HTTP service we can offer on these machines: answers GET / with "ok"."""

import argparse

from aiohttp import web


async def ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    app = web.Application()
    app.router.add_get("/", ok)
    app.router.add_get("/health", ok)
    web.run_app(app, host=a.host, port=a.port, access_log=None, print=None)
