"""Which spawn-link requests count as coming from the hub's own pages, on requests
built the way tornado hands them to JupyterHub's spawn handler."""

from types import SimpleNamespace
from urllib.parse import quote

from tornado.httputil import HTTPHeaders, HTTPServerRequest

from jupyterhub_moss.web.spawn_links import from_hub_pages, link_options, query_options

TOKEN = b"2|1234abcd|the-users-own-token|1700000000"


def handler(uri, method="GET", headers=None, token_authenticated=False):
    request = HTTPServerRequest(method=method, uri=uri, headers=HTTPHeaders(headers or {}))

    def get_query_argument(name, default=None):
        values = request.query_arguments.get(name)
        return values[-1].decode() if values else default

    return SimpleNamespace(
        request=request,
        xsrf_token=TOKEN,
        get_query_argument=get_query_argument,
        _token_authenticated=token_authenticated,
    )


def test_a_link_from_another_site_or_the_address_bar_is_not_the_hubs():
    for headers in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "none"},
        {},
    ):
        assert not from_hub_pages(handler("/hub/spawn?partition=gpu", headers=headers)), headers
    assert not from_hub_pages(None)


def test_the_hubs_own_page_or_the_users_token_or_an_api_token_is():
    same_origin = handler("/hub/spawn?partition=gpu", headers={"Sec-Fetch-Site": "same-origin"})
    assert from_hub_pages(same_origin)
    assert from_hub_pages(handler(f"/hub/spawn?partition=gpu&_xsrf={TOKEN.decode()}"))
    assert from_hub_pages(handler("/hub/spawn?partition=gpu", token_authenticated=True))


def test_a_wrong_or_empty_token_is_not_enough():
    for token in ("2|1234abcd|another-token|1700000000", "", TOKEN.decode() + "x", "\u00e9"):
        assert not from_hub_pages(handler(f"/hub/spawn?partition=gpu&_xsrf={quote(token)}")), token


def test_query_options_drop_jupyterhubs_arguments_and_honour_the_prefix():
    query = {"partition": ["gpu"], "_xsrf": ["t"], "next": ["/x"], "display_name": ["d"]}
    assert query_options(query) == {"partition": ["gpu"]}
    mixed = {"opt-partition": ["cpu"], "partition": ["gpu"], "_xsrf": ["t"]}
    assert query_options(mixed) == {"partition": ["cpu"]}


def test_link_options_are_those_of_a_get_with_options_only():
    assert link_options(handler("/hub/spawn?opt-nprocs=3&_xsrf=t")) == {"nprocs": ["3"]}
    assert link_options(handler("/hub/spawn")) is None
    assert link_options(handler("/hub/spawn?_xsrf=t&next=/hub/home")) is None
    assert link_options(handler("/hub/spawn?nprocs=3", method="POST")) is None
    assert link_options(None) is None
