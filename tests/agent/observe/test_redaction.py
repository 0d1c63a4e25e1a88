"""No citizen value reaches a log line: by key, by NIK shape, through exceptions or tracebacks."""
from __future__ import annotations

import io
import json
import uuid
import zipfile

import pytest
import structlog

from agent.observe import logs
from agent.card.data import FIELD_MAX_LENGTH, CardDataError, parse_payload, validate_card
from agent.observe.redaction import PERSONAL_KEYS, REDACTED, redact, redact_text
from jobserver.citizens import make_citizen

CANARY_NAME = "SUKMAWATI CANARYPUTRI"
CANARY_NIK = "3319054512880007"


@pytest.fixture(autouse=True)
def _restore_structlog():
    yield
    structlog.reset_defaults()


@pytest.mark.parametrize("text", [
    "nik 3319054512880007 here", "3319054512880007", "x3319054512880007y",
    "331905 451288 0007", "331905-451288-0007", "3319 0545 1288 0007", "3319.0545.1288.0007",
    "ab" * 16 + " 3319054512880007", "3319054512880007:" + "ab" * 16,  # beside a hash, not inside it
])
def test_nik_shapes_are_masked(text):
    assert "<nik>" in redact_text(text)
    assert not any(ch.isdigit() for ch in redact_text(text).replace("<nik>", ""))


@pytest.mark.parametrize("text", [
    str(uuid.UUID("12345678-1234-1234-1234-123456789012")), "2026-11-20T08:00:00Z",
    "a" * 3 + "0123456789abcdef" * 4, "payload 41873 bytes", "33190545128800071",  # 17 digits: not a NIK
    "/v1/payloads/9f" + "3319054512880007" * 2 + "e1" * 15,  # a SHA-256 holding 16 digits in a row
])
def test_job_ids_times_and_hashes_are_left_alone(text):
    assert redact_text(text) == text


def test_every_card_field_is_a_personal_key():
    assert set(FIELD_MAX_LENGTH) <= PERSONAL_KEYS


def test_personal_keys_are_redacted_at_any_depth_whatever_they_hold():
    event = {"event": "x", "nama": CANARY_NAME, "NIK": 12, "ctx": {"alamat": ["JL. MAWAR"], "ok": 1},
             "list": [{"tempat_lahir": "PATI"}], "photo": b"\xff\xd8jpeg", "blob": b"abc",
             "tup": ("a", {"pekerjaan": "GURU"})}
    out = redact(event)
    assert out["nama"] == out["NIK"] == out["photo"] == REDACTED
    assert out["ctx"] == {"alamat": REDACTED, "ok": 1}
    assert out["list"] == [{"tempat_lahir": REDACTED}]
    assert out["tup"] == ("a", {"pekerjaan": REDACTED})
    assert out["blob"] == "<3 bytes>"


def test_objects_and_exceptions_are_masked_before_a_renderer_stringifies_them():
    class Holder:
        def __repr__(self) -> str:
            return f"Holder({CANARY_NIK})"

    assert CANARY_NIK not in redact(Holder())
    assert redact(ValueError(f"nik {CANARY_NIK}")) == "ValueError: nik <nik>"


def _fail_with_personal_locals():
    nama = CANARY_NAME  # noqa: F841 - a local a traceback with locals would show
    card = {"nik": CANARY_NIK, "nama": CANARY_NAME}  # noqa: F841
    raise ValueError(f"cannot use {CANARY_NIK}")


@pytest.mark.parametrize("json_mode", [True, False], ids=["json", "console"])
def test_tracebacks_carry_no_locals_and_masked_messages(json_mode):
    stream = io.StringIO()
    logs.configure(stream=stream, json=json_mode)
    log = structlog.get_logger("test")
    try:
        _fail_with_personal_locals()
    except ValueError:
        log.exception("job.crashed", job_id="3f2a", nama=CANARY_NAME, card={"nik": CANARY_NIK})
    out = stream.getvalue()
    assert "job.crashed" in out and "_fail_with_personal_locals" in out  # the traceback is there
    assert CANARY_NAME not in out and "SUKMAWATI" not in out and CANARY_NIK not in out
    recent = logs.recent_lines()
    assert recent is not None and recent.lines()
    assert all(CANARY_NIK not in line and "SUKMAWATI" not in line for line in recent.lines())
    if json_mode:
        frames = json.loads(out.splitlines()[-1])["exception"][0]["frames"]
        assert all("locals" not in frame for frame in frames)


def _card(**changes) -> dict:
    card = make_citizen("3319-05", 7)
    card.update(changes)
    return card


def _bad_variants(field: str):
    limit = FIELD_MAX_LENGTH[field]
    yield "CANARY" + "X" * (limit + 5)         # too long
    yield "CANARY\u2028ZAHRA"                  # a line separator
    yield "CANARY\x00"                         # a control character
    yield "CANARY NOT A VALUE"                 # wrong for dates, sex, blood group, NIK


@pytest.mark.parametrize("field", list(FIELD_MAX_LENGTH))
def test_card_data_errors_never_hold_the_value(field):
    raised = 0
    for bad in _bad_variants(field):
        try:
            validate_card(_card(**{field: bad}))
        except CardDataError as exc:
            raised += 1
            assert "CANARY" not in str(exc) and "CANARY" not in repr(exc.args)
            assert exc.__context__ is None and exc.__cause__ is None
            assert exc.field == field
    assert raised >= 3


def test_card_data_errors_do_not_echo_unknown_keys_nor_bad_json():
    for doc in ({**_card(), "CANARY_FIELD": "x"}, {**_card(), "nik": 3319054512880007}):
        with pytest.raises(CardDataError) as caught:
            validate_card(doc)
        assert "CANARY" not in str(caught.value) and "3319054512880007" not in str(caught.value)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zipped:
        zipped.writestr("card.json", b'{"nama": "SUKMAWATI CANARYPUTRI", ]')
        zipped.writestr("photo.jpg", b"\xff\xd8")
    with pytest.raises(CardDataError) as caught:
        parse_payload(archive.getvalue())
    assert str(caught.value) == "card.json: is not UTF-8 JSON with unique keys"


def test_nik_contradicting_the_birth_date_is_named_not_shown():
    card = _card()
    wrong = card["nik"][:6] + "01" + card["nik"][8:]
    with pytest.raises(CardDataError) as caught:
        validate_card({**card, "nik": wrong})
    assert wrong not in str(caught.value) and card["nama"] not in str(caught.value)
