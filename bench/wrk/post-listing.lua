-- A new listing of user 1 with every request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"user_id": 1, "listing_type": "rent", "price": 6000}'
