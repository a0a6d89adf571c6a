/**
 * Kernel event times to wall-clock time. bpftrace's `nsecs` is bpf_ktime_get_ns(), the kernel's
 * CLOCK_MONOTONIC, and Node's process.hrtime reads the same clock (libuv uses
 * clock_gettime(CLOCK_MONOTONIC)), so wall = monotonic + (wall − monotonic measured here).
 *
 * Why not /proc/uptime: it counts CLOCK_BOOTTIME (suspend included) in 10 ms steps. Why not
 * bpftrace's strftime: it formats in the kernel program, per event, and gives no sub-second part
 * in 0.17.
 *
 * Date.now() has millisecond steps, so an offset measured with it alone is up to 1 ms off.
 * performance.timeOrigin + performance.now() reads the wall clock with microseconds, but from a
 * wall time sampled once when the process started: after a clock step (NTP, an operator) it stays
 * on the old time. So the precise value is used while it agrees with Date.now() to within
 * STEP_TOLERANCE_US, and Date.now()'s otherwise. The source re-measures every few seconds.
 */

/** More than Date.now()'s 1 ms step plus the time between the two readings. */
const STEP_TOLERANCE_US = 2_000;

/** Microseconds to add to a CLOCK_MONOTONIC time in µs to get µs since the Unix epoch. */
export function monotonicToWallOffsetUs(): number {
  const before = process.hrtime.bigint();
  const preciseWallUs = (performance.timeOrigin + performance.now()) * 1000;
  const coarseWallUs = Date.now() * 1000;
  const after = process.hrtime.bigint();
  const monotonicUs = Number((before + after) / 2n) / 1000;
  // Date.now() truncates to the millisecond: its middle is the best guess after a step.
  const wallUs = Math.abs(preciseWallUs - coarseWallUs) <= STEP_TOLERANCE_US ? preciseWallUs : coarseWallUs + 500;
  return Math.round(wallUs - monotonicUs);
}
