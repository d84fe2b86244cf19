#!/usr/bin/python3
"""seed_user.py BASE_URL TOKEN: creates one realistic user through the
SCIM API (Okta's "Test Users endpoint" reads the first existing user).
Called by scripts/run-suites.sh before the Okta suite."""
import http.client
import json
import secrets
import sys
import urllib.parse

u = urllib.parse.urlsplit(sys.argv[1])
conn = (http.client.HTTPSConnection if u.scheme == "https"
        else http.client.HTTPConnection)(u.netloc, timeout=30)
tag = secrets.token_hex(3)
doc = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
       "userName": f"ada.seed{tag}@example.com", "active": True,
       "name": {"givenName": "Ada", "familyName": f"Seed{tag}"},
       "displayName": f"Ada Seed{tag}",
       "emails": [{"value": f"ada.seed{tag}@example.com", "type": "work",
                   "primary": True}]}
conn.request("POST", u.path + "/Users", body=json.dumps(doc),
             headers={"Authorization": "Bearer " + sys.argv[2],
                      "Content-Type": "application/scim+json"})
r = conn.getresponse()
print("seed user:", r.status, r.read()[:300])
