"""Google's own Python client drives roster-google-emulator.

google-api-python-client builds the Directory API client from the discovery document
(build_from_document) with its rootUrl pointed at the emulator, and google-auth's
service_account.Credentials signs the JWT assertion for the emulator's /token. The
script lists users with paging, inserts a user, sends a BatchHttpRequest, inserts a
member and catches an HttpError; it prints one JSON summary line.

Environment: as tests/google/emulator_client.py says.
"""

import json

from emulator_client import directory
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

SCOPES = [
    "https://www.googleapis.com/auth/admin.directory.user",
    "https://www.googleapis.com/auth/admin.directory.group",
]

service = directory(SCOPES)
out = {}

# (a) Paging with list_next.
seen, pages = [], 0
request = service.users().list(customer="my_customer", maxResults=100, orderBy="email")
while request is not None:
    page = request.execute()
    pages += 1
    seen.extend(u["primaryEmail"] for u in page.get("users", []))
    request = service.users().list_next(request, page)
out["pages"] = pages
out["users_seen"] = len(seen)
out["unique"] = len(set(seen))
out["sorted"] = seen == sorted(seen)

# (b) Insert a user.
created = (
    service.users()
    .insert(
        body={
            "primaryEmail": "grace.hopper@example.com",
            "name": {"givenName": "Grace", "familyName": "Hopper"},
            "password": "a-long-enough-password",
            "changePasswordAtNextLogin": True,
            "externalIds": [{"type": "organization", "value": "GH-1"}],
        }
    )
    .execute()
)
out["inserted"] = {
    "kind": created["kind"],
    "fullName": created["name"]["fullName"],
    "has_password": "password" in created,
    "id_is_numeric": created["id"].isdigit(),
}

# (c) A batch: two group inserts and a missing user.
results = {}


def collect(request_id, response, exception):
    if exception is not None:
        results[request_id] = {"status": exception.resp.status, "reason": exception.reason}
    else:
        results[request_id] = {"email": response.get("email") or response.get("primaryEmail")}


batch = service.new_batch_http_request(callback=collect)
batch.add(service.groups().insert(body={"email": "engineering@example.com", "name": "Engineering"}), request_id="g1")
batch.add(service.groups().insert(body={"email": "sales@example.com", "name": "Sales"}), request_id="g2")
batch.add(service.users().get(userKey="nobody@example.com"), request_id="missing")
batch.execute()
out["batch"] = results
out["batch_uri"] = batch._batch_uri

# (d) Insert a member and read the group back.
member = (
    service.members()
    .insert(groupKey="engineering@example.com", body={"email": "grace.hopper@example.com", "role": "MEMBER"})
    .execute()
)
out["member"] = {"type": member["type"], "role": member["role"], "status": member.get("status")}
out["has_member"] = (
    service.members().hasMember(groupKey="engineering@example.com", memberKey="grace.hopper@example.com").execute()["isMember"]
)
out["members_count"] = service.groups().get(groupKey="engineering@example.com").execute()["directMembersCount"]

# (e) Google's error shape as HttpError.
try:
    service.users().insert(
        body={
            "primaryEmail": "grace.hopper@example.com",
            "name": {"givenName": "Grace", "familyName": "Hopper"},
            "password": "a-long-enough-password",
        }
    ).execute()
    out["error"] = None
except HttpError as e:
    details = e.error_details if isinstance(e.error_details, list) else []
    out["error"] = {
        "status": e.status_code,
        "reason": details[0].get("reason") if details else None,
        "message": e.reason,
    }

print(json.dumps(out))
