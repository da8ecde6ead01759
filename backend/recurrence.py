"""Recurrence rules: which RFC 5545 `RRULE` values a task may carry, and its next due date.

A rule is refused unless every part is one we support (`FREQ` of DAILY to YEARLY, `INTERVAL`,
`BYDAY`, `BYMONTHDAY`, `COUNT`, `UNTIL`), each value is in range, and python-dateutil's `rrulestr`
reads it. The bounds are what keeps dateutil fast: `INTERVAL=0` would make it loop forever, and
a rule that never matches would make it walk to year 9999 (`next_occurrence` says how that is
bounded).

Rules are evaluated in UTC, from the task's current due date: completing a task moves `due_at`
to the first occurrence after it. `COUNT` counts the occurrences left, the current due date
included, so each reschedule writes it back one lower; at `COUNT=1` the task completes for real.
"""

import re
from datetime import MAXYEAR, UTC, datetime

from dateutil.parser import parse as parse_datetime
from dateutil.rrule import rrule, rrulestr

FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
PARTS = ("FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "COUNT", "UNTIL")
MAX_INTERVAL = 1000
MAX_COUNT = 10_000
# How far ahead the next occurrence is looked for: a rule with none sooner counts as ended.
WINDOW_YEARS = 100
# The Gregorian calendar repeats every 400 years (146,097 days, whole weeks), leap years and
# weekdays alike: a rule gives the same dates, shifted, from a due date moved by 400 years.
_CYCLE_YEARS = 400
_WEEKDAY = r"(MO|TU|WE|TH|FR|SA|SU)"
_BYDAY = re.compile(rf"^([+-]?([1-9]|[1-4][0-9]|5[0-3]))?{_WEEKDAY}$")
_BYMONTHDAY = re.compile(r"^[+-]?([1-9]|[12][0-9]|3[01])$")
_UNTIL = re.compile(r"^[0-9]{8}(T[0-9]{6}Z)?$")
_WHOLE = re.compile(r"^[1-9][0-9]{0,5}$")
# COUNT is kept by `next_occurrence` itself, and UNTIL applied by `_rule`; dateutil reads the rest.
_EVALUATED = ("FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY")


class RecurrenceError(ValueError):
    """A rule refused; the message names the part and says what is allowed."""


def _parts(rule: str) -> dict[str, str]:
    """The rule's parts by name, in the order written, names and values upper-cased."""
    parts: dict[str, str] = {}
    for part in rule.upper().split(";"):
        name, equals, value = part.partition("=")
        if not part:
            raise RecurrenceError("an empty part: parts are NAME=VALUE, separated by one ';'")
        if name not in PARTS:
            supported = ", ".join(PARTS)
            raise RecurrenceError(f"unsupported part {part!r}: only {supported} are supported")
        if not equals or not value:
            raise RecurrenceError(f"{name} needs a value ({name}=...)")
        if name in parts:
            raise RecurrenceError(f"{name} is given twice")
        parts[name] = value
    return parts


def _check(name: str, value: str, frequency: str) -> None:
    """Refuse a value out of range, or one RFC 5545 forbids with this frequency."""
    if name == "FREQ" and value not in FREQUENCIES:
        raise RecurrenceError(f"FREQ={value} is not supported: use one of {', '.join(FREQUENCIES)}")
    if name in ("INTERVAL", "COUNT"):
        high = MAX_INTERVAL if name == "INTERVAL" else MAX_COUNT
        if not _WHOLE.match(value) or int(value) > high:
            raise RecurrenceError(f"{name}={value}: {name} must be a whole number from 1 to {high}")
    if name == "UNTIL" and not _UNTIL.match(value):
        raise RecurrenceError(
            f"UNTIL={value}: UNTIL must be a UTC date-time (20261231T235959Z) or a date (20261231)"
        )
    if name == "BYDAY":
        for day in value.split(","):
            if not _BYDAY.match(day):
                raise RecurrenceError(
                    f"BYDAY={value}: {day!r} is not a weekday (MO..SU, optionally with an "
                    "ordinal from -53 to 53, as in 1MO or -1FR)"
                )
            if frequency not in ("MONTHLY", "YEARLY") and not day[0].isalpha():
                raise RecurrenceError(f"BYDAY={value}: an ordinal needs FREQ=MONTHLY or YEARLY")
    if name == "BYMONTHDAY":
        if frequency == "WEEKLY":
            raise RecurrenceError("BYMONTHDAY cannot be used with FREQ=WEEKLY")
        for day in value.split(","):
            if not _BYMONTHDAY.match(day):
                raise RecurrenceError(
                    f"BYMONTHDAY={value}: {day!r} is not a day of the month (1 to 31, or -31 "
                    "to -1 from the end)"
                )


def canonical_rule(rule: str) -> str:
    """`rule` checked and written back upper-cased; `RecurrenceError` names what is wrong."""
    parts = _parts(rule)
    frequency = parts.get("FREQ")
    if frequency is None:
        raise RecurrenceError("FREQ is required (FREQ=DAILY, WEEKLY, MONTHLY or YEARLY)")
    if "COUNT" in parts and "UNTIL" in parts:
        raise RecurrenceError("COUNT and UNTIL cannot both be given")
    for name, value in parts.items():
        _check(name, value, frequency)
    canonical = ";".join(f"{name}={value}" for name, value in parts.items())
    try:
        _rule(parts, datetime(2000, 1, 1))
    except ValueError as error:
        raise RecurrenceError(f"{canonical} is not a valid rule: {error}") from None
    return canonical


def _until(value: str) -> datetime:
    """UNTIL as a naive UTC instant; a date alone lasts to the end of that day."""
    until = parse_datetime(value, ignoretz=True)
    return until if "T" in value else until.replace(hour=23, minute=59, second=59)


def _shifted(moment: datetime, years: int) -> datetime:
    return moment.replace(year=moment.year + years)


def _rule(parts: dict[str, str], anchor: datetime, shift: int = 0) -> rrule:
    """dateutil's rule from `anchor` (naive UTC), its UNTIL moved by `shift` years as well."""
    text = ";".join(f"{name}={parts[name]}" for name in _EVALUATED if name in parts)
    rule = rrulestr(text, dtstart=anchor)
    if "UNTIL" not in parts:
        return rule
    until = _until(parts["UNTIL"])
    if until.year + shift > MAXYEAR:
        return rule
    return rule.replace(until=_shifted(until, shift))


def next_occurrence(rule: str, due_at: datetime) -> tuple[datetime, str] | None:
    """The first occurrence after `due_at` and the rule to store with it (COUNT one lower), or
    None when the rule has none left: COUNT used up, UNTIL passed, or none within
    `WINDOW_YEARS`.

    A rule that never matches (`FREQ=MONTHLY;INTERVAL=12;BYMONTHDAY=30` from February) makes
    dateutil walk to year 9999, where it stops, whatever UNTIL says: about a second. So the
    search runs on the calendar moved by whole 400-year cycles to end `WINDOW_YEARS` to
    `WINDOW_YEARS + 400` years after the due date, which bounds it to a few tens of ms.
    """
    parts = _parts(rule)
    count = int(parts.get("COUNT", "0"))
    if count == 1:
        return None
    anchor = due_at.astimezone(UTC).replace(tzinfo=None)
    shift = (MAXYEAR - WINDOW_YEARS - anchor.year) // _CYCLE_YEARS * _CYCLE_YEARS
    shifted_anchor = _shifted(anchor, shift)
    following = _rule(parts, shifted_anchor, shift).after(shifted_anchor)
    if following is None or following.year - shifted_anchor.year > WINDOW_YEARS:
        return None
    if following.year - shift > MAXYEAR:
        return None
    if count:
        parts["COUNT"] = str(count - 1)
    text = ";".join(f"{name}={value}" for name, value in parts.items())
    return _shifted(following, -shift).replace(tzinfo=UTC), text
