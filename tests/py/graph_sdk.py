"""Drives the Graph emulator with Microsoft's Python Graph SDK (msgraph-sdk).

Through the SDK's own APIs: msgraph_core's PageIterator over every user, a JSON batch
through the SDK's batch request builder, a users delta round to its deltaLink and a
second round after a change, and a Graph error surfaced as a typed ODataError.

Inputs (environment): EMULATOR_BASE (https://host:port), EMULATOR_TENANT,
EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, EMULATOR_CA_FILE (the PEM CA that signed
the emulator's certificate). Prints one JSON summary line on stdout; anything else goes
to stderr.
"""

import asyncio
import json
import os
import sys
from urllib.parse import urlparse

import httpx
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.group import Group
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.user import User
from msgraph.generated.models.user_collection_response import UserCollectionResponse
from msgraph.generated.users.delta.delta_get_response import DeltaGetResponse
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core import GraphClientFactory
from msgraph_core.requests.batch_request_content import BatchRequestContent
from msgraph_core.requests.batch_request_item import BatchRequestItem
from msgraph_core.tasks.page_iterator import PageIterator

BASE = os.environ["EMULATOR_BASE"].rstrip("/")
TENANT = os.environ["EMULATOR_TENANT"]
CLIENT_ID = os.environ["EMULATOR_CLIENT_ID"]
CLIENT_SECRET = os.environ["EMULATOR_CLIENT_SECRET"]
CA_FILE = os.environ["EMULATOR_CA_FILE"]
HOST = urlparse(BASE).hostname


class EmulatorTokenProvider(AccessTokenProvider):
    """Client-credentials tokens from the emulator's token endpoint.

    azure-identity's ClientSecretCredential cannot be pointed at the emulator: MSAL first
    reads the authority's OpenID discovery document
    (`/{tenant}/v2.0/.well-known/openid-configuration`), which the emulator does not
    serve. This provider makes the same client-credentials POST MSAL would make.
    """

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self._token = None
        self.requests = 0

    async def get_authorization_token(self, uri, additional_authentication_context=None):
        if not self.get_allowed_hosts_validator().is_url_host_valid(uri):
            return ""
        if self._token is None:
            r = await self._http.post(
                f"{BASE}/{TENANT}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "scope": "https://graph.microsoft.com/.default",
                },
            )
            if r.status_code != 200:
                raise RuntimeError(f"token endpoint answered {r.status_code}: {r.text}")
            self._token = r.json()["access_token"]
            self.requests += 1
        return self._token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return AllowedHostsValidator([HOST])


async def page_all_users(client, adapter):
    """Every user through PageIterator, counting the pages it fetches."""
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        select=["id", "userPrincipalName"], top=100
    )
    first = await client.users.get(RequestConfiguration(query_parameters=query))
    ids = []
    iterator = PageIterator(first, adapter)
    pages = 1
    fetch = iterator.fetch_next_page

    async def counting_fetch():
        nonlocal pages
        pages += 1
        return await fetch()

    iterator.fetch_next_page = counting_fetch

    def collect(user):
        ids.append(user.id)
        return True

    await iterator.iterate(collect)
    return {
        "users_seen": len(ids),
        "unique_ids": len(set(ids)),
        "pages": pages,
        "first_page_typed": isinstance(first, UserCollectionResponse),
    }, ids


async def batch(client):
    """A JSON batch through BatchRequestContent and the SDK's batch request builder."""
    first = client.users.to_get_request_information(
        RequestConfiguration(
            query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
                top=1
            )
        )
    )
    group = Group(
        display_name="Python SDK group",
        mail_enabled=False,
        mail_nickname="pysdk",
        security_enabled=True,
    )
    create = client.groups.to_post_request_information(group)
    missing = client.users.by_user_id("nobody@contoso.com").to_get_request_information()
    content = BatchRequestContent()
    content.add_request("1", BatchRequestItem(first, id="1"))
    content.add_request("2", BatchRequestItem(create, id="2", depends_on=["1"]))
    content.add_request("3", BatchRequestItem(missing, id="3"))
    response = await client.batch.post(content)
    statuses = response.get_response_status_codes()
    responses = response.responses or {}
    return {
        "batch_statuses": statuses,
        "batch_ids": sorted(responses.keys()),
        "batch_response_ids": sorted(
            r.id for r in responses.values() if r is not None and r.id is not None
        ),
        "batch_content_types": {
            rid: (r.headers or {}).get("Content-Type") for rid, r in responses.items()
        },
        "batch_bodies_kept": {
            rid: r.body is not None and len(r.body.getvalue()) > 0
            for rid, r in responses.items()
        },
    }


async def delta_round(client, start_url=None):
    """One users delta round: the first page (or the given link), then every nextLink, to
    the deltaLink. Returns the users seen, the pages and the deltaLink."""
    users = []
    pages = 0
    builder = client.users.delta if start_url is None else client.users.delta.with_url(start_url)
    page = await builder.get()
    while True:
        pages += 1
        if not isinstance(page, DeltaGetResponse):
            raise RuntimeError(f"delta answered {type(page).__name__}")
        users.extend(page.value or [])
        if page.odata_next_link:
            page = await client.users.delta.with_url(page.odata_next_link).get()
            continue
        return users, pages, page.odata_delta_link


async def delta(client, ids):
    users, pages, link = await delta_round(client)
    changed = ids[0]
    new_name = "Changed through the Python SDK"
    await client.users.by_user_id(changed).patch(User(display_name=new_name))
    again, again_pages, again_link = await delta_round(client, link)
    return {
        "delta_users": len(users),
        "delta_pages": pages,
        "delta_link": link,
        "delta_changed_id": changed,
        "delta_changed_name": new_name,
        "delta_second_round": [
            {"id": u.id, "displayName": u.display_name} for u in again
        ],
        "delta_second_pages": again_pages,
        "delta_second_link": again_link,
    }


async def error(client):
    try:
        await client.users.by_user_id("nobody@contoso.com").get()
    except ODataError as e:
        inner = e.error.inner_error if e.error else None
        return {
            "error": {
                "type": type(e).__name__,
                "statusCode": e.response_status_code,
                "code": e.error.code if e.error else None,
                "message": e.error.message if e.error else None,
                "requestId": inner.request_id if inner else None,
            }
        }
    return {"error": None}


# The batch payloads as they left the process (what the SDK serialised).
WIRE_BATCHES = []


async def record_batch(request: httpx.Request) -> None:
    if request.url.path.endswith("/$batch"):
        WIRE_BATCHES.append(json.loads(request.content))


async def main():
    async with httpx.AsyncClient(verify=CA_FILE) as token_http, httpx.AsyncClient(
        verify=CA_FILE, event_hooks={"request": [record_batch]}
    ) as graph_http:
        tokens = EmulatorTokenProvider(token_http)
        auth = BaseBearerTokenAuthenticationProvider(tokens)
        http = GraphClientFactory.create_with_default_middleware(client=graph_http)
        adapter = GraphRequestAdapter(auth, client=http)
        adapter.base_url = f"{BASE}/v1.0"
        client = GraphServiceClient(request_adapter=adapter)

        out = {}
        paged, ids = await page_all_users(client, adapter)
        out.update(paged)
        out.update(await batch(client))
        out.update(await delta(client, ids))
        out.update(await error(client))
        out["batch_wire"] = [
            {"id": r.get("id"), "url": r.get("url"), "keys": sorted(r)}
            for b in WIRE_BATCHES
            for r in b.get("requests", [])
        ]
        out["token_requests"] = tokens.requests
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as e:  # noqa: BLE001 - the test shows stderr on failure
        import traceback

        traceback.print_exc()
        print(f"graph_sdk.py: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
