"""The scheduler process: runs the weekly posts (filled in by the weekly-post feature)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from bot.services import Services

log = logging.getLogger(__name__)


class Clock:
    def __init__(self, services: Services, client: Any):
        self.services = services
        self.client = client
        self.scheduler = BackgroundScheduler(timezone=services.settings.timezone)
        self._stopped = threading.Event()

    def start(self) -> None:
        self.scheduler.start()
        log.info("scheduler started")

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self._stopped.set()

    def run_forever(self) -> None:
        self.start()
        try:
            self._stopped.wait()
        finally:
            self.stop()
