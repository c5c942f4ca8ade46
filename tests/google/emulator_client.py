"""The Directory API client of Google's own libraries, pointed at roster-google-emulator.

google-api-python-client builds the client from the discovery document
(build_from_document) with its rootUrl set to the emulator, and google-auth's
service_account.Credentials signs the JWT assertion, POSTed to the emulator's /token.

Environment: GOOGLE_EMULATOR_BASE (http://127.0.0.1:PORT), GOOGLE_KEY_FILE (the
service account key file), GOOGLE_ADMIN (the administrator to impersonate).
"""

import json
import os

from google.oauth2 import service_account
from googleapiclient.discovery import build_from_document

BASE = os.environ["GOOGLE_EMULATOR_BASE"].rstrip("/")


def directory(scopes):
    """A Directory API service acting for GOOGLE_ADMIN with `scopes`."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "admin.directory_v1.json")) as f:
        doc = json.load(f)
    doc["rootUrl"] = BASE + "/"
    with open(os.environ["GOOGLE_KEY_FILE"]) as f:
        info = json.load(f)
    info["token_uri"] = BASE + "/token"
    creds = service_account.Credentials.from_service_account_info(
        info, scopes=scopes, subject=os.environ["GOOGLE_ADMIN"]
    )
    return build_from_document(doc, credentials=creds)
