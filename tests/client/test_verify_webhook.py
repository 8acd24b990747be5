"""The client's `verify_webhook` against the Standard Webhooks spec's vector and the ways a delivery is refused."""

from __future__ import annotations

import pytest
from reel_ballers_client import InvalidWebhook, verify_webhook

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HEADERS = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
           "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
BODY = b'{"test": 2432232314}'


def test_the_spec_vector_verifies_with_any_header_case_and_among_other_signatures():
    assert verify_webhook(HEADERS, BODY, SECRET, now=1614265330) == {"test": 2432232314}
    upper = {k.title(): v for k, v in HEADERS.items()}
    upper["Webhook-Signature"] = "v1a,zzz v1,bm90IGl0 " + HEADERS["webhook-signature"]
    assert verify_webhook(upper, BODY.decode(), SECRET, now=1614265330 + 299) == {"test": 2432232314}


@pytest.mark.parametrize(("change", "now"), [
    ({"webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE"}, 1614265330),  # cut
    ({"webhook-id": "msg_other"}, 1614265330),  # the id is signed
    ({"webhook-timestamp": "1614265331"}, 1614265330),  # the timestamp is signed
    ({}, 1614265330 + 301), ({}, 1614265330 - 301),  # too old, too new
    ({"webhook-timestamp": "soon"}, 1614265330), ({"webhook-id": ""}, 1614265330),
])
def test_a_delivery_that_is_not_exactly_the_signed_one_is_refused(change, now):
    with pytest.raises(InvalidWebhook):
        verify_webhook({**HEADERS, **change}, BODY, SECRET, now=now)


def test_a_changed_body_or_another_secret_is_refused():
    with pytest.raises(InvalidWebhook):
        verify_webhook(HEADERS, b'{"test": 2432232315}', SECRET, now=1614265330)
    with pytest.raises(InvalidWebhook):
        verify_webhook(HEADERS, BODY, "whsec_" + "A" * 32, now=1614265330)


def test_forged_bytes_and_headers_are_refused_as_invalid_not_crashes():
    with pytest.raises(InvalidWebhook):
        verify_webhook({**HEADERS, "webhook-signature": "v1,\u00e9\u00e9"}, BODY, SECRET, now=1614265330)
    with pytest.raises(InvalidWebhook):
        verify_webhook(HEADERS, b"\xff\xfe not utf-8", SECRET, now=1614265330)
