/** Notification records, made the same way by every thread that writes them. */
import type { NotifLevel, NotifRecord } from './records.js';
import { formatTs } from './serialize.js';

export function notifRecord(ifName: string, level: NotifLevel, kind: string, message: string, extra?: Record<string, unknown>, tsUs = Date.now() * 1000): NotifRecord {
  return { type: 'notif', ts: formatTs(tsUs), tsUs, if: ifName, level, kind, message, ...extra };
}
