"""Schemathesis hooks for the contract pass (loaded through
SCHEMATHESIS_HOOKS by scripts/check-api).

Resumable uploads carry raw bytes as `application/offset+octet-stream`
(tus 1.0), a media type schemathesis has no generator for: it sends
arbitrary bytes, and feed-like ones, under it.
"""

import schemathesis
from hypothesis import strategies as st

schemathesis.openapi.media_type(
    "application/offset+octet-stream",
    st.one_of(
        st.binary(max_size=256),
        st.sampled_from([b"[", b'[{"id": "a"}]', b'{"not": "a feed"}']),
    ),
)
