"""The VRO client's ``httpx.AsyncClient``: httpx's own, without cookie work on cookie-less answers.

httpx hands every response to its cookie jar. The jar finds out that there is nothing to store
only after httpx has built two ``urllib`` compatibility objects (a request copying every header,
and a response) and the standard library has looked for ``Set-Cookie`` in them: about 7% of the
CPU of a RuntimeDetails GET (``bench.vro_requests`` under py-spy). VRO authenticates with bearer
tokens and its answers carry no cookies, so here the jar is skipped when a response has no
``Set-Cookie`` (nor ``Set-Cookie2``) header; that is exactly when the standard library would
store nothing. A response that does set a cookie is handled as stock httpx handles it.

Only public httpx API is used: the client's ``cookies`` property returns a
:class:`httpx.Cookies` subclass that shares the stock object's jar.
"""

from __future__ import annotations

from http.cookiejar import CookieJar
from typing import Any

import httpx


class _Cookies(httpx.Cookies):
    """httpx's cookies, which look at a response only if it sets a cookie."""

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


class VroHttpClient(httpx.AsyncClient):
    """:class:`httpx.AsyncClient` whose cookie jar skips responses that set no cookie."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._vro_cookies = _Cookies(super().cookies.jar)  # the same jar: one set of cookies

    @property
    def cookies(self) -> httpx.Cookies:
        return self._vro_cookies

    @cookies.setter
    def cookies(self, cookies: httpx.Cookies | CookieJar | dict[str, str] | list[tuple[str, str]]) -> None:
        self._vro_cookies = _Cookies(cookies)
