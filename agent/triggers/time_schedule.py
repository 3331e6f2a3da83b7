"""time_schedule: cron (with a time zone), a fixed interval, or one date.

Runs on APScheduler 3 in the agent process. Misfires: a run missed by less than
``misfire_grace_seconds`` (default 300) — the Pi was busy or just booting — still fires once
(``coalesce``: several missed runs fire once); older misfires and runs due while the agent was
stopped are skipped, because a check-in broadcast hours late helps no one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from agent.engine.context import TriggerContext
from agent.engine.events import Event
from agent.engine.registry import TriggerType, register_trigger


@register_trigger
class TimeScheduleTrigger(TriggerType):
    type_name = "time_schedule"
    description = "On a schedule: cron with a time zone, every N seconds, or once at a date"
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "cron": {"type": "string", "minLength": 9, "maxLength": 100,
                     "description": "five fields: minute hour day month weekday"},
            "interval_seconds": {"type": "integer", "minimum": 1, "maximum": 31_536_000},
            "at": {"type": "string", "format": "date-time"},
            "timezone": {"type": "string", "default": "UTC"},
            "misfire_grace_seconds": {"type": "integer", "minimum": 1, "default": 300},
        },
        "oneOf": [{"required": ["cron"]}, {"required": ["interval_seconds"]},
                  {"required": ["at"]}],
        "additionalProperties": False,
    }
    EXAMPLE: ClassVar[dict[str, Any]] = {"cron": "0 19 * * *", "timezone": "Europe/Zurich"}

    def __init__(self, config: dict[str, Any], *, process_uid: str, trigger_uid: str) -> None:
        super().__init__(config, process_uid=process_uid, trigger_uid=trigger_uid)
        self._schedule = self._build()

    def _build(self) -> Any:
        try:
            zone = ZoneInfo(self.config.get("timezone", "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: unknown time zone {self.config.get('timezone')!r}") \
                from None
        if "cron" in self.config:
            try:
                return CronTrigger.from_crontab(self.config["cron"], timezone=zone)
            except ValueError as exc:
                raise ValueError(f"cron: {exc}") from None
        if "interval_seconds" in self.config:
            return IntervalTrigger(seconds=self.config["interval_seconds"], timezone=zone)
        try:
            when = dt.datetime.fromisoformat(self.config["at"])
        except ValueError:
            raise ValueError("at: not an ISO 8601 date-time") from None
        return DateTrigger(run_date=when, timezone=zone)

    def index_keys(self) -> frozenset[str]:
        return frozenset({self.trigger_uid})

    def attach(self, ctx: TriggerContext) -> Callable[[], None] | None:
        if ctx.scheduler is None:
            return None
        trigger_uid = self.trigger_uid

        def fire() -> None:
            ctx.submit(Event(type="time_schedule", source="scheduler",
                             keys=frozenset({trigger_uid}),
                             data={"trigger_uid": trigger_uid,
                                   "scheduled_time": dt.datetime.now(dt.UTC).isoformat()}))

        job = ctx.scheduler.add_job(
            fire, trigger=self._schedule, id=trigger_uid, replace_existing=True,
            coalesce=True, misfire_grace_time=self.config.get("misfire_grace_seconds", 300),
            max_instances=1,
        )

        def detach() -> None:
            try:
                job.remove()
            except Exception:  # noqa: BLE001 - already gone (a date trigger that fired)
                pass

        return detach
