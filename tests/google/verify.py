"""What a Google Workspace account holds, read with Google's own Python client.

Independent of roster's reader: google-api-python-client builds the Directory API from
the discovery document (build_from_document) with its rootUrl pointed at the emulator,
google-auth's service_account.Credentials signs the JWT for the emulator's /token, and
the script pages (a small maxResults, so that every list takes several pages) through
users, groups and each group's members. It prints one JSON line:

  {"users": [{"primaryEmail", "givenName", "familyName", "suspended", "isAdmin",
              "orgUnitPath", "department", "title", "anchor"}...],
   "groups": [{"email", "name", "description", "members": [email...]}...],
   "pages": N}

Environment: as tests/google/emulator_client.py says.
"""

import json

from emulator_client import directory

SCOPES = [
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
]
PAGE = 2

service = directory(SCOPES)
pages = 0


def every(collection, method, key, **kwargs):
    """Every item of a list method, following nextPageToken with list_next."""
    global pages
    items = []
    request = getattr(collection, method)(**kwargs)
    while request is not None:
        page = request.execute(num_retries=5)
        pages += 1
        items.extend(page.get(key, []))
        request = getattr(collection, method + "_next")(request, page)
    return items


def primary_org(user):
    orgs = user.get("organizations") or []
    for o in orgs:
        if o.get("primary"):
            return o
    return orgs[0] if orgs else {}


def anchor(user):
    for e in user.get("externalIds") or []:
        if e.get("type") == "custom" and e.get("customType") == "roster":
            return e.get("value")
    return None


users = []
for u in every(service.users(), "list", "users", customer="my_customer",
               maxResults=PAGE, projection="full", orderBy="email"):
    org = primary_org(u)
    users.append({
        "primaryEmail": u["primaryEmail"],
        "givenName": u["name"].get("givenName"),
        "familyName": u["name"].get("familyName"),
        "suspended": u.get("suspended", False),
        "isAdmin": u.get("isAdmin", False),
        "orgUnitPath": u.get("orgUnitPath"),
        "department": org.get("department"),
        "title": org.get("title"),
        "anchor": anchor(u),
    })

groups = []
for g in every(service.groups(), "list", "groups", customer="my_customer", maxResults=PAGE):
    members = every(service.members(), "list", "members", groupKey=g["id"], maxResults=PAGE)
    groups.append({
        "email": g["email"],
        "name": g.get("name"),
        "description": g.get("description", ""),
        "members": sorted(m["email"].lower() for m in members),
    })
groups.sort(key=lambda g: g["email"])

print(json.dumps({"users": users, "groups": groups, "pages": pages}, sort_keys=True))
