"""The `Link` header (RFC 8288) of a list page: first, prev, next and last, as GitHub sends it.

Each link is the request's own URL with every query parameter kept and only `limit` and
`offset` set, so filters and sort order carry over from page to page.
"""

from starlette.datastructures import URL


def link_header(url: URL, *, total: int, limit: int, offset: int) -> str:
    last = max(0, (total - 1) // limit * limit)
    targets = {"first": 0}
    if offset > 0:
        targets["prev"] = min(max(0, offset - limit), last)
    if offset + limit < total:
        targets["next"] = offset + limit
    targets["last"] = last
    return ", ".join(
        f'<{url.include_query_params(limit=limit, offset=target)}>; rel="{relation}"'
        for relation, target in targets.items()
    )
