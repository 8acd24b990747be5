"""The development runtime's pure pieces: log redaction, vars precedence, the bundle's adaptations."""

from __future__ import annotations

import pytest

from dev_runtime import build_bundle
from dev_runtime.dev_vars import parse_dev_vars, required_secret_names, worker_values, write_env_file
from dev_runtime.redact import HIDDEN, Redactor


def test_redactor_hides_secret_values_and_credential_parameters():
    redact = Redactor(["key-one-123456,key-two-654321", "callback-secret-xyz", "short", ""])
    line = ("GET /cb/j1?sig=abcdef&ts=1 key-one-123456 key-two-654321 callback-secret-xyz short "
            "/ws?token=eyJ.x.y /o?X-Amz-Signature=ff&X-Amz-Date=2026")
    out = redact(line)
    for hidden in ("key-one-123456", "key-two-654321", "callback-secret-xyz", "abcdef", "eyJ.x.y", "=ff"):
        assert hidden not in out
    assert out.count(HIDDEN) == 6
    assert "ts=1" in out and "X-Amz-Date=2026" in out and "short" in out  # not credentials


def test_values_precedence(tmp_path):
    (tmp_path / "wrangler.toml").write_text('name = "x"\n[vars]\nA = "from-toml"\nB = "from-toml"\n')
    (tmp_path / ".dev.vars.example").write_text("S1=\n# optional\nS2=\n")
    (tmp_path / ".dev.vars").write_text("B=from-dev-vars\nS1='quoted'\n")
    values = worker_values(tmp_path, environ={"S2": "from-env", "UNRELATED": "x"})
    assert values == {"A": "from-toml", "B": "from-dev-vars", "S1": "quoted", "S2": "from-env"}
    assert required_secret_names(tmp_path) == ["S1"]


def test_env_file_round_trips_and_is_private(tmp_path):
    path = tmp_path / "w.env"
    write_env_file(path, {"A": "x,y:z/$1", "B": ""})
    assert parse_dev_vars(path.read_text()) == {"A": "x,y:z/$1", "B": ""}
    assert path.stat().st_mode & 0o077 == 0
    with pytest.raises(ValueError):
        write_env_file(path, {"A": "two\nlines"})


def test_adaptations_must_match_exactly():
    text, _, count, _ = build_bundle.ASM_ADAPTATIONS[0]
    source = "\n".join([text] * count) + "\n" + "".join(t * n for t, _, n, _ in build_bundle.ASM_ADAPTATIONS[1:])
    adapted = build_bundle.adapt_asm(source)
    assert adapted.startswith(build_bundle.ASM_PRELUDE) and text not in adapted
    with pytest.raises(build_bundle.BuildError, match="expected"):
        build_bundle.adapt_asm(source + text)  # one more than pinned: the pin moved
