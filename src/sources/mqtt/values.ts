/** A payload as a sample's fields: a number or text is `value`, JSON its fields and own time. */
import type { FieldValue } from "../../model.ts";
import type { Payload } from "../../payload.ts";
import { takeTime, type TimeSettings } from "../../sample_time.ts";

/** The fields (and the payload's own time) of a payload, or why it makes no sample. */
export type PayloadValues =
  | { fields: Record<string, FieldValue>; ts?: number }
  | { reason: string; problem?: string };

/** Reads `payload` as a sample's values; `now` judges a payload's own time. */
export function readPayload(
  payload: Payload,
  options: TimeSettings & { now: number },
): PayloadValues {
  let fields: Record<string, FieldValue>;
  let ts: number | undefined;
  switch (payload.kind) {
    case "number":
    case "text":
      fields = { value: payload.value };
      break;
    case "json": {
      fields = payload.fields;
      const own = takeTime(fields, options);
      if (own.problem) return { reason: "bad_timestamp", problem: own.problem };
      ts = own.ts;
      break;
    }
    case "invalid":
      return { reason: payload.reason };
    default:
      // Images and binary data need a file policy (MinIO/S3), not a time series.
      return { reason: `unsupported_${payload.kind}` };
  }
  if (Object.keys(fields).length === 0) return { reason: "no_values" };
  return { fields, ts };
}

/** The time settings of a source's config, apart from the rest of it. */
export function timeSettings(c: TimeSettings): TimeSettings {
  return { time_field: c.time_field, time_format: c.time_format, max_future: c.max_future };
}
