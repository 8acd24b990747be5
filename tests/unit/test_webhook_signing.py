"""Webhook signing (webhooks.signing) against the Standard Webhooks spec's published vector."""

from __future__ import annotations

import base64

import pytest

from webhooks.signing import InvalidSecret, headers, key_of, signature

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TS, SPEC_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}'


def test_the_spec_vector_is_reproduced():
    assert signature(key_of(SPEC_SECRET), SPEC_ID, SPEC_TS, SPEC_BODY) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_every_header_of_an_attempt():
    sent = headers(key_of(SPEC_SECRET), SPEC_ID, SPEC_TS, SPEC_BODY)
    assert sent == {"webhook-id": SPEC_ID, "webhook-timestamp": "1614265330", "Content-Type": "application/json",
                    "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}


@pytest.mark.parametrize("secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!",
                                    "whsec_" + base64.b64encode(b"short").decode(),
                                    "whsec_" + base64.b64encode(b"x" * 65).decode(), ""])
def test_a_secret_that_is_not_a_whsec_key_is_refused_without_showing_it(secret):
    with pytest.raises(InvalidSecret) as info:
        key_of(secret)
    assert secret[6:] not in str(info.value) or not secret[6:]
