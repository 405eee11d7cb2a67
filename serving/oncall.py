"""On-call paging: who is on call for a queue at a given instant, from one rota file per queue kept in git.

``TRIAGE_ON_CALL_ROTA_DIR`` holds ``<queue>.toml`` for each queue that pages (``on_call.queues`` of the routing
policy). A rota names its contacts once (a name and a handle: an e-mail address, a phone number, a pager or chat
id; never a secret), then says who is on call when:

- ``overrides``: absolute periods (holidays, swaps) with their contact; they win over the weekly shifts, and of
  two overlapping overrides the one listed last wins (append a swap at the bottom of the file);
- ``shifts``: weekly shifts in the rota's ``timezone``: the days a shift starts, its start and end wall-clock
  times (an end at or before the start ends the next day, overnight; an end equal to the start makes a 24-hour
  shift). Shifts may leave gaps but may not overlap;
- ``fallback``: the contact when neither covers the instant (required: a page always reaches someone).

Shifts are wall-clock times: on the nights the clocks change, a 20:00-08:00 shift lasts 11 or 13 hours. An
override's start and end are datetimes with an offset, or local datetimes read in the rota's timezone.

Every file is validated at start-up (``load_rotas``): a file that is not valid TOML, an unknown key, a contact
named but not defined, overlapping shifts, an unknown timezone, a file for a queue the routing policy does not
have, or a paging queue without a file stops the server with a message naming the file and the key. Resolving
(``on_call``) is a pure function of the rota and the instant.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, tzinfo
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from serving.config_files import load_toml
from serving.policy import RoutingPolicy

log = logging.getLogger("serving.oncall")

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_S = 24 * 3600
WEEK_S = 7 * DAY_S

#: How a contact came to be on call.
OVERRIDE, SHIFT, FALLBACK = "override", "shift", "fallback"

ContactKey = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                        pattern=r"^[^\x00-\x1f]*$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(_Section):
    """A person (or a team's pager) to page: a name for people, a handle for the paging system."""

    name: Text
    #: Where the page goes: an e-mail address, a phone number, a pager or chat id. Never a secret (it is in git
    #: and in every event).
    handle: Text


def _second_of_day(value: time) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second


class Shift(_Section):
    """A weekly shift: from ``start`` on each of ``days`` to ``end`` (the next day when ``end`` is not after
    ``start``), wall-clock times of the rota's timezone."""

    days: Annotated[tuple[Day, ...], Field(min_length=1)]
    start: time
    end: time
    contact: ContactKey

    @field_validator("days")
    @classmethod
    def _each_day_once(cls, days: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(days)) != len(days):
            raise ValueError("a day is listed twice")
        return days

    @field_validator("start", "end")
    @classmethod
    def _wall_clock(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("a shift's times are wall-clock times of the rota's timezone: drop the offset")
        if value.microsecond:
            raise ValueError("a shift's times are whole seconds")
        return value

    @property
    def seconds(self) -> int:
        """How long the shift lasts in wall-clock seconds (a day when it ends when it starts)."""
        return (_second_of_day(self.end) - _second_of_day(self.start)) % DAY_S or DAY_S

    def starts(self) -> list[int]:
        """The second of the week (Monday 00:00 is 0) each of its weekly occurrences starts."""
        return [DAYS.index(day) * DAY_S + _second_of_day(self.start) for day in self.days]

    def covers(self, second_of_week: int) -> bool:
        return any((second_of_week - start) % WEEK_S < self.seconds for start in self.starts())

    def describe(self) -> str:
        return f"{','.join(self.days)} {self.start.isoformat('minutes')}-{self.end.isoformat('minutes')}"


class Override(_Section):
    """An absolute period (a holiday, a swap) and its contact; wins over the weekly shifts."""

    start: datetime
    end: datetime
    contact: ContactKey
    reason: Text | None = None

    def period(self, zone: tzinfo) -> tuple[datetime, datetime]:
        """Start and end as aware datetimes: a local datetime (no offset) is read in the rota's timezone."""
        return _aware(self.start, zone), _aware(self.end, zone)


def _aware(value: datetime, zone: tzinfo) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def _overlap(a: int, a_len: int, b: int, b_len: int) -> bool:
    """Whether two periods on the weekly circle overlap."""
    return (b - a) % WEEK_S < a_len or (a - b) % WEEK_S < b_len


class Rota(_Section):
    """One queue's rota file."""

    #: An IANA timezone (``Europe/Berlin``): the shifts' wall clock, and the zone of overrides given without offset.
    timezone: Annotated[str, Field(min_length=1, max_length=64)]
    contacts: Annotated[dict[ContactKey, Contact], Field(min_length=1)]
    fallback: ContactKey
    shifts: tuple[Shift, ...] = ()
    overrides: tuple[Override, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"unknown timezone {value!r}: use an IANA name such as Europe/Berlin or UTC") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Rota:
        problems = [] if self.fallback in self.contacts else [f"fallback: no contact {self.fallback!r} in contacts"]
        named = [(f"shifts.{i}", s.contact) for i, s in enumerate(self.shifts)]
        named += [(f"overrides.{i}", o.contact) for i, o in enumerate(self.overrides)]
        problems += [f"{key}.contact: no contact {contact!r} in contacts" for key, contact in named
                     if contact not in self.contacts]
        for i, override in enumerate(self.overrides):
            start, end = override.period(self.zone)
            if end <= start:
                problems.append(f"overrides.{i}.end: must be after its start")
        for j, later in enumerate(self.shifts):
            for i, earlier in enumerate(self.shifts[:j]):
                if any(_overlap(a, earlier.seconds, b, later.seconds)
                       for a in earlier.starts() for b in later.starts()):
                    problems.append(f"shifts.{j}: overlaps shifts.{i} ({later.describe()} and {earlier.describe()})")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class OnDuty:
    """Who is on call, and why: ``via`` is ``override``, ``shift`` or ``fallback``."""

    name: str
    handle: str
    via: str

    def as_payload(self) -> dict[str, str]:
        return {"name": self.name, "handle": self.handle, "via": self.via}


def on_call(rota: Rota, at: datetime) -> OnDuty:
    """Who is on call under ``rota`` at the instant ``at`` (an aware datetime): the last override covering it,
    else the weekly shift covering its wall-clock time in the rota's timezone, else the fallback."""
    if at.tzinfo is None:
        raise ValueError("on_call needs an aware datetime (an instant), not a naive one")
    for override in reversed(rota.overrides):
        start, end = override.period(rota.zone)
        if start <= at < end:
            return _duty(rota, override.contact, OVERRIDE)
    local = at.astimezone(rota.zone)
    second = local.weekday() * DAY_S + _second_of_day(local.time())
    for shift in rota.shifts:
        if shift.covers(second):
            return _duty(rota, shift.contact, SHIFT)
    return _duty(rota, rota.fallback, FALLBACK)


def _duty(rota: Rota, key: str, via: str) -> OnDuty:
    contact = rota.contacts[key]
    return OnDuty(contact.name, contact.handle, via)


def on_call_for(rotas: Mapping[str, Rota], queue: str, at: datetime) -> OnDuty | None:
    """Who is on call for ``queue`` at ``at``; None when the queue has no rota."""
    rota = rotas.get(queue)
    return on_call(rota, at) if rota is not None else None


class RotaError(ValueError):
    """A rota file (or the rota folder) is missing or invalid; the message names the file and the key."""


def load_rota(path: Path) -> Rota:
    return load_toml(path, Rota, "on-call rota", RotaError)


def load_rotas(directory: Path | None, policy: RoutingPolicy) -> dict[str, Rota]:
    """The rota of each queue, from ``<queue>.toml`` files in ``directory`` (``TRIAGE_ON_CALL_ROTA_DIR``); empty
    when unset. Raises ``RotaError`` for an invalid file, a file for a queue the policy does not have, or a
    queue that pages (``on_call.queues``) without a file: paging nobody must not be found out during an
    incident."""
    if directory is None:
        if policy.on_call.queues:
            log.info("no on-call rotas (TRIAGE_ON_CALL_ROTA_DIR unset): pages name no contact",
                     extra={"queues": sorted(policy.on_call.queues)})
        return {}
    if not directory.is_dir():
        raise RotaError(f"{directory}: TRIAGE_ON_CALL_ROTA_DIR is not a folder")
    rotas: dict[str, Rota] = {}
    for path in sorted(directory.glob("*.toml")):
        if path.stem not in policy.queue_names:
            raise RotaError(f"{path}: the routing policy ({policy.version}) has no queue {path.stem!r}; a rota "
                            f"file is named after its queue: one of {', '.join(sorted(policy.queue_names))}")
        rotas[path.stem] = load_rota(path)
    missing = sorted(policy.on_call.queues - rotas.keys())
    if missing:
        raise RotaError(f"{directory}: no rota for {', '.join(missing)}, which page (on_call.queues of the routing "
                        f"policy): add {', '.join(f'{q}.toml' for q in missing)}")
    idle = sorted(rotas.keys() - policy.on_call.queues)
    if idle:
        log.warning("on-call rotas for queues that do not page (not in on_call.queues)", extra={"queues": idle})
    return rotas
