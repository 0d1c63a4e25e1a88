"""Long polls (``wait_s``) on the reference server over real loopback HTTP: held until a job for the
station is issued or the wait passes, without holding up anyone else, and ended at once by stop()."""
from __future__ import annotations

import json
import threading
import time

import pytest
import urllib3

from jobserver.demo import provision, start_demo_server

STATION = "3319-05"


@pytest.fixture
def served(tmp_path):
    server = start_demo_server(tmp_path, STATION, jobs=2)
    creds = provision(tmp_path, STATION)
    headers = {"Authorization": "Bearer " + creds.token_file.read_text().strip()}
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=20))
    yield server, http, headers
    server.stop()
    http.clear()


def poll(served, query: str) -> tuple[int, dict, float]:
    server, http, headers = served
    started = time.monotonic()
    response = http.request("GET", f"{server.url}/v1/stations/{STATION}/jobs{query}", headers=headers)
    return response.status, json.loads(response.data), time.monotonic() - started


def caught_up(served) -> str:
    """The cursor after every job issued so far."""
    status, doc, _ = poll(served, "?limit=100")
    assert status == 200 and len(doc["jobs"]) == 2
    return doc["next_cursor"]


class HeldPoll:
    """A long poll running in its own thread."""

    def __init__(self, served, query: str) -> None:
        self.result: tuple[int, dict, float] | None = None
        self.thread = threading.Thread(target=lambda: setattr(self, "result", poll(served, query)), daemon=True)
        self.thread.start()

    def answer(self, within_s: float) -> tuple[int, dict, float] | None:
        self.thread.join(within_s)
        return self.result


def test_a_long_poll_is_held_and_answered_as_soon_as_a_job_is_issued(served):
    cursor = caught_up(served)
    held = HeldPoll(served, f"?after={cursor}&wait_s=30")
    assert held.answer(0.8) is None  # held: nothing new yet
    served[0].store.add_jobs(STATION, 1)
    status, doc, seconds = held.answer(5)
    assert status == 200 and len(doc["jobs"]) == 1
    assert 0.8 <= seconds < 5


def test_a_long_poll_with_nothing_new_answers_empty_when_the_wait_passes(served):
    cursor = caught_up(served)
    status, doc, seconds = poll(served, f"?after={cursor}&wait_s=1")
    assert status == 200 and doc["jobs"] == [] and doc["next_cursor"] == cursor
    assert 1.0 <= seconds < 3


def test_a_long_poll_with_jobs_waiting_answers_at_once(served):
    status, doc, seconds = poll(served, "?wait_s=300")
    assert status == 200 and len(doc["jobs"]) == 2 and seconds < 1


def test_a_held_poll_holds_up_no_other_request(served):
    cursor = caught_up(served)
    held = HeldPoll(served, f"?after={cursor}&wait_s=30")
    assert held.answer(0.3) is None
    status, doc, seconds = poll(served, "?limit=1")  # another connection, answered while the first is held
    assert status == 200 and len(doc["jobs"]) == 1 and seconds < 1
    assert held.answer(0) is None


def test_stopping_the_server_answers_a_held_poll_at_once(served):
    cursor = caught_up(served)
    held = HeldPoll(served, f"?after={cursor}&wait_s=300")
    assert held.answer(0.3) is None
    started = time.monotonic()
    served[0].stop()
    status, doc, _ = held.answer(5)
    assert status == 200 and doc["jobs"] == [] and time.monotonic() - started < 3


@pytest.mark.parametrize("query", ["?wait_s=301", "?wait_s=-1", "?wait_s=soon"])
def test_a_wait_outside_the_protocol_is_400_naming_the_field(served, query):
    status, doc, _ = poll(served, query)
    assert status == 400 and doc["field"] == "wait_s"


def test_answers_carry_no_server_header_and_keep_the_connection(served):
    server, http, headers = served
    response = http.request("GET", f"{server.url}/v1/stations/{STATION}/jobs", headers=headers)
    assert response.status == 200 and "Server" not in response.headers and "Date" in response.headers
    assert response.headers["Content-Length"] == str(len(response.data))
    assert response.headers.get("Connection", "").lower() != "close"
