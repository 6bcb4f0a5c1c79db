"""The release watch's own load: steady predictions of the two real digits (pipelines/digits.py) through the
public URL, each answer checked, tallied for the watch's verdict."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests

from pipelines.digits import PAYLOAD, answer_problems

REQUEST_TIMEOUT_SECONDS = 10.0


@dataclass
class Tally:
    """The watch's own requests."""

    sent: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def p99_ms(self) -> float | None:
        """Nearest-rank p99 of the answered requests."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[math.ceil(0.99 * len(ordered)) - 1]


class Load(threading.Thread):
    """`rate` predictions a second, one at a time, until stopped; never faster, never in bursts."""

    def __init__(
        self, app_url: str, model_version: str, token: str | None, rate: float, verify: bool | str
    ) -> None:
        super().__init__(name="watch-load", daemon=True)
        self.url, self.version = f"{app_url}/v1/predict", model_version
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.interval, self.verify = 1.0 / rate, verify
        self.tally, self.lock, self.stopped = Tally(), threading.Lock(), threading.Event()

    def run(self) -> None:
        with requests.Session() as session:
            due = time.monotonic()
            while not self.stopped.is_set():
                self.one(session)
                due = max(due + self.interval, time.monotonic())
                self.stopped.wait(max(0.0, due - time.monotonic()))

    def one(self, session: requests.Session) -> None:
        started = time.perf_counter()
        failure, elapsed = None, None
        try:
            answer = session.post(
                self.url,
                json=PAYLOAD,
                headers=self.headers,
                timeout=REQUEST_TIMEOUT_SECONDS,
                verify=self.verify,
            )
        except requests.RequestException as exc:
            failure = f"no answer ({type(exc).__name__})"
        else:
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status_code != 200:
                failure = f"HTTP {answer.status_code}"
            else:
                try:
                    problems = answer_problems(answer.json(), self.version)
                except ValueError:
                    problems = ["not JSON"]
                failure = "wrong answer" if problems else None
        with self.lock:
            self.tally.sent += 1
            if elapsed is not None:  # answered, rightly or not
                self.tally.latencies_ms.append(elapsed)
            if failure is not None:
                self.tally.failures[failure] += 1

    def stop(self) -> Tally:
        self.stopped.set()
        self.join()
        return self.tally
