import type { S3Connection } from "./S3Connection.js";

/**
 * Notes the Date header of a response on `connection` (from either path: S3Requests, or the
 * SDK's client through its middleware): the latest one is what its server last said the time was.
 */
export function noteServerDate(connection: S3Connection, date: string | undefined): void {
  const time = date === undefined ? Number.NaN : Date.parse(date);
  const latest = connection.serverDate;
  if (!Number.isNaN(time) && (latest === undefined || time > latest)) connection.serverDate = time;
}
