#!/usr/bin/env python3
"""Seeds the listing and user services through their own REST APIs.

    bench/seed-listings.py INTERNAL_PORT USERS LISTINGS

USERS users, then LISTINGS listings spread over them, alternately for
rent and for sale, one request at a time on one connection.
"""
import http.client
import json
import sys
import urllib.parse

port, users, listings = (int(a) for a in sys.argv[1:])
conn = http.client.HTTPConnection("127.0.0.1", port)


def post(path, form):
    conn.request("POST", path, urllib.parse.urlencode(form),
                 {"Content-Type": "application/x-www-form-urlencoded"})
    answer = conn.getresponse()
    body = json.loads(answer.read())
    assert answer.status == 200, body
    return body


ids = [post("/users", {"name": f"user {i}"})["user"]["id"] for i in range(users)]
for i in range(listings):
    post("/listings", {"user_id": ids[i % users], "listing_type": ("rent", "sale")[i % 2],
                       "price": 1000 + i})
