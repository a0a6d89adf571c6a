/**
 * Event 00010: more than N reset connections for one server IP:port within a sliding window,
 * raised once per window. Each key keeps the times of its last N+1 resets in a small ring, so
 * the test "N+1 resets within the window" is exact. Resets are a small share of packets, so a
 * Map is fine here; it is bounded (oldest key dropped first) so a reset storm over random
 * addresses cannot grow it without limit.
 */
import { BoundedMap } from '../../util/bounded-map.js';

const MAX_KEYS = 65_536;

interface KeyState {
  times: Float64Array;
  next: number;
  filled: number;
  quietUntil: number;
}

export class ResetStormCounter {
  private readonly keys = new BoundedMap<number | string, KeyState>(MAX_KEYS);

  constructor(
    /** Raise when more than this many resets fall in one window. */
    private readonly threshold: number,
    private readonly windowUs: number,
  ) {}

  /**
   * Counts one reset connection for `key` at `tsUs`. Returns the number of resets in the window
   * when this one crosses the threshold and the key has not been reported in the last window;
   * otherwise 0.
   */
  count(key: number | string, tsUs: number): number {
    let st = this.keys.get(key);
    if (st === undefined) {
      st = { times: new Float64Array(this.threshold + 1), next: 0, filled: 0, quietUntil: -Infinity };
      this.keys.set(key, st);
    }
    const ring = st.times;
    ring[st.next] = tsUs;
    st.next = (st.next + 1) % ring.length;
    if (st.filled < ring.length) st.filled++;
    if (st.filled < ring.length || tsUs < st.quietUntil) return 0;
    const oldest = ring[st.next]!;
    if (tsUs - oldest > this.windowUs) return 0;
    st.quietUntil = tsUs + this.windowUs;
    let inWindow = 0;
    for (let i = 0; i < ring.length; i++) if (tsUs - ring[i]! <= this.windowUs) inWindow++;
    return inWindow;
  }
}

/** A Map key for an endpoint: a number for IPv4 (address × 65536 + port), text for IPv6. */
export function endpointKey(version: number, words: Int32Array, offset: number, port: number): number | string {
  if (version === 4) return (words[offset]! >>> 0) * 65536 + port;
  return `${words[offset]},${words[offset + 1]},${words[offset + 2]},${words[offset + 3]},${port}`;
}
