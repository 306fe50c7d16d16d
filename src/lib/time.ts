// Times for people are shown in the policy's zone (Europe/Oslo); the journal keeps ISO UTC.
import { usageError } from "./errors.js";
import { parseDuration } from "./duration.js";

export const DEFAULT_ZONE = "Europe/Oslo";

/** "2026-11-23 14:05 CET" in the given zone. */
export function formatLocal(date: Date, zone = DEFAULT_ZONE): string {
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone: zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZoneName: "short",
  }).formatToParts(date);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  return `${get("year")}-${get("month")}-${get("day")} ${get("hour")}:${get("minute")} ${get("timeZoneName")}`;
}

/** Wall-clock fields of an instant in a zone: weekday 0 = Sunday, minutes since midnight. */
export function localClock(date: Date, zone = DEFAULT_ZONE): { weekday: number; minutes: number; date: string } {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    weekday: "short",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(date);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  const weekday = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].indexOf(get("weekday"));
  return {
    weekday,
    minutes: Number(get("hour")) * 60 + Number(get("minute")),
    date: `${get("year")}-${get("month")}-${get("day")}`,
  };
}

/**
 * A time given on the command line: an ISO date or time ("2026-11-20", "2026-11-20T14:00Z"),
 * "now", or a duration back from now ("30d", "2h") when `relativeToPast` is set.
 */
export function parseTimeArg(text: string, option: string, now = new Date()): Date {
  const trimmed = text.trim();
  if (trimmed === "now") return now;
  const ago = parseDuration(trimmed);
  if (ago !== undefined) return new Date(now.getTime() - ago);
  const date = new Date(trimmed);
  if (Number.isNaN(date.getTime())) {
    throw usageError(`${option}: "${text}" is not a time`, {
      hint: `Use an ISO time such as 2026-11-20T14:00:00Z, a date such as 2026-11-20, or a duration such as 30d.`,
    });
  }
  return date;
}

/** A time in the future given on the command line: ISO, or a duration forward from now ("7d"). */
export function parseFutureTimeArg(text: string, option: string, now = new Date()): Date {
  const ahead = parseDuration(text.trim());
  if (ahead !== undefined) return new Date(now.getTime() + ahead);
  return parseTimeArg(text, option, now);
}
