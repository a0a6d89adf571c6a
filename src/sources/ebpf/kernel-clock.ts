/**
 * Kernel event times to wall-clock time. bpftrace's `nsecs` is bpf_ktime_get_ns(), the kernel's
 * CLOCK_MONOTONIC, and Node's process.hrtime reads the same clock (libuv uses
 * clock_gettime(CLOCK_MONOTONIC)), so wall = monotonic + (wall − monotonic measured here).
 *
 * Why not /proc/uptime: it counts CLOCK_BOOTTIME (suspend included) in 10 ms steps. Why not
 * bpftrace's strftime: it formats in the kernel program, per event, with no sub-second part in
 * 0.17. Why not performance.timeOrigin: Node samples it apart from its monotonic origin, and it
 * was measured here 1.5 ms off Date.now().
 *
 * Date.now() only has milliseconds, but at the instant it ticks over the wall clock is exactly
 * the new millisecond: the offset is measured there (a wait of 1 to 5 ms, once), then kept while
 * Date.now() agrees with it, and measured again after a clock step (NTP, an operator).
 */

/** A tick seen within a window wider than this was disturbed (the thread was preempted): retried. */
const MAX_WINDOW_US = 20;
const EDGE_ATTEMPTS = 5;
/** monotonic + offset may run ahead of Date.now() (which truncates) by up to 1 ms, plus reading gaps. */
const AHEAD_TOLERANCE_US = 1_500;
const BEHIND_TOLERANCE_US = 500;

let cachedOffsetUs: number | undefined;

const monotonicUsNow = (): number => {
  const t = process.hrtime.bigint();
  return Number(t / 1000n) + Number(t % 1000n) / 1000;
};

/**
 * One tick of Date.now(): the new millisecond, and a monotonic window holding both the last read
 * that still showed the old millisecond and the first that showed the new one.
 */
function tickWindow(): { fromUs: number; toUs: number; ms: number } {
  let lastOldReadFrom = monotonicUsNow();
  const first = Date.now();
  for (;;) {
    const from = monotonicUsNow();
    const now = Date.now();
    const to = monotonicUsNow();
    if (now !== first) return { fromUs: lastOldReadFrom, toUs: to, ms: now };
    lastOldReadFrom = from;
  }
}

/** The offset at a tick of Date.now(), from the narrowest of a few windows: good to ~10 µs. */
function measureAtMillisecondEdge(): number {
  let best = tickWindow();
  for (let i = 1; i < EDGE_ATTEMPTS && best.toUs - best.fromUs > MAX_WINDOW_US; i++) {
    const w = tickWindow();
    if (w.toUs - w.fromUs < best.toUs - best.fromUs) best = w;
  }
  return Math.round(best.ms * 1000 - (best.fromUs + best.toUs) / 2);
}

/** Microseconds to add to a CLOCK_MONOTONIC time in µs to get µs since the Unix epoch. */
export function monotonicToWallOffsetUs(): number {
  const mono = monotonicUsNow();
  const nowUs = Date.now() * 1000;
  if (cachedOffsetUs !== undefined) {
    const ahead = mono + cachedOffsetUs - nowUs;
    if (ahead >= -BEHIND_TOLERANCE_US && ahead <= AHEAD_TOLERANCE_US) return cachedOffsetUs;
  }
  cachedOffsetUs = measureAtMillisecondEdge();
  return cachedOffsetUs;
}
