-- One feed body, the same every time: every request after the first is a 403.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '[{"id": "same", "name": "Mesa de madeira", "description": "Mesa de jantar de madeira macica para seis lugares, acabamento natural"}]'
