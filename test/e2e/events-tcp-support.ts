/**
 * Helpers for the TCP network-event end-to-end tests (events-tcp.e2e.test.ts): the python
 * programs run inside the lab's namespaces, tshark frame times from the reference capture,
 * event timestamps in µs, the expected-event keys and flow filters.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { EventRecord } from '../../src/record/records.js';
import { CLI, epochToUs, readRecords, sleep, tsTextUs, type LiveRun, type Records } from './event-lab.js';

/**
 * `dllt read` of a capture with `env`, bounded: a hung read (SIGKILLed after `timeoutMs`) is a
 * test failure with a clear message instead of a test run that never ends.
 */
export function readCapture(tmp: string, pcap: string, env: Record<string, string>, timeoutMs = 20_000): Records {
  const out = mkdtempSync(join(tmp, 'read-'));
  const start = Date.now();
  try {
    execFileSync(process.execPath, [CLI, 'read', pcap, '--out', out, '-q'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    });
  } catch (err) {
    const e = err as { signal?: string; stderr?: Buffer };
    if (e.signal === 'SIGKILL') throw new Error(`dllt read ${pcap} did not finish within ${timeoutMs} ms (killed; a hang, the capture is tiny)`);
    throw new Error(`dllt read ${pcap} failed after ${Date.now() - start} ms: ${String(e.stderr ?? err)}`);
  }
  return readRecords(join(out, 'logs', basename(pcap)));
}

/**
 * Stops a live run, bounded: if dllt does not exit within `timeoutMs` of SIGTERM (its event
 * loop is blocked), fail; the lab's cleanup then kills it.
 */
export async function stopWithin(run: LiveRun, timeoutMs = 15_000): Promise<Records> {
  const stopped = run.stop();
  stopped.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`dllt capture did not exit within ${timeoutMs} ms of SIGTERM (event loop blocked?); its log_notif shows when it stopped reporting`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([stopped, late]);
  } finally {
    clearTimeout(timer);
    await sleep(0);
  }
}

/** An event's `ts` in µs since the epoch. */
export function eventTsUs(e: EventRecord): number {
  return tsTextUs(e.ts);
}

export interface Frame {
  tsUs: number;
  srcIP: string;
  srcPort: number;
  dstIP: string;
  dstPort: number;
  flags: number;
  len: number;
}

/** TCP frames of a capture matching a tshark display filter. */
export function tcpFrames(pcap: string, filter: string): Frame[] {
  const text = execFileSync(
    'tshark',
    ['-n', '-r', pcap, '-Y', filter, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'ip.src', '-e', 'tcp.srcport', '-e', 'ip.dst', '-e', 'tcp.dstport', '-e', 'tcp.flags', '-e', 'tcp.len'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [epoch, srcIP, srcPort, dstIP, dstPort, flags, len] = l.split('\t');
      return {
        tsUs: epochToUs(epoch!),
        srcIP: srcIP!,
        srcPort: Number(srcPort),
        dstIP: dstIP!,
        dstPort: Number(dstPort),
        flags: Number(flags),
        len: Number(len),
      };
    });
}

export interface Tuple {
  srcIP: string;
  srcPort: number;
  dstIP: string;
  dstPort: number;
}

/** The key eventKey() renders, for an expected TCP event. */
export function expectedKey(code: string, t: Tuple, side: 'src' | 'dst' | undefined, value: string | undefined, nodeIP: 0 | 1): string {
  return `${code} tcp ${t.srcIP}:${t.srcPort} > ${t.dstIP}:${t.dstPort} side=${side ?? '-'} value=${value ?? '-'} nodeIP=${nodeIP}`;
}

/** Events about the connection `t` (either direction of the tuple). */
export function eventsOn(events: EventRecord[], t: Tuple): EventRecord[] {
  return events.filter(
    (e) =>
      e.proto === 'tcp' &&
      ((e.srcIP === t.srcIP && e.srcPort === t.srcPort && e.dstIP === t.dstIP && e.dstPort === t.dstPort) ||
        (e.srcIP === t.dstIP && e.srcPort === t.dstPort && e.dstIP === t.srcIP && e.dstPort === t.srcPort)),
  );
}

/** Resolves with the first stdout line matching `re` (its first group), rejects on exit/timeout. */
export function waitForLine(child: ChildProcess, re: RegExp, what: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}: ${text} ${err}`)), timeoutMs);
    child.stdout!.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => (err += d));
    child.stdout!.on('data', (d: string) => {
      text += d;
      const m = re.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] ?? m[0]);
      }
    });
    child.on('close', () => {
      clearTimeout(timer);
      reject(new Error(`${what}: program exited first: ${text} ${err}`));
    });
  });
}

/**
 * TCP server: `argv = ip port`. Each connection (own thread) reads one request; `RST...` gets a
 * few bytes then an abortive close (SO_LINGER on, 0 s: the kernel sends RST); anything else
 * gets `ok` and the connection is held until the peer closes or resets it. Exits by itself
 * after 60 s.
 */
export const RST_SERVER_PY = `
import socket, struct, sys, threading, time
ip, port = sys.argv[1], int(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((ip, port))
s.listen(16)
def serve(c):
    try:
        c.settimeout(30)
        req = c.recv(100)
        if req.startswith(b"RST"):
            c.sendall(b"bye\\n")
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
            return
        if not req:
            c.close()
            return
        c.sendall(b"ok\\n")
        while c.recv(100):
            pass
    except OSError:
        pass
    try:
        c.close()
    except OSError:
        pass
def stop():
    time.sleep(60)
    import os
    os._exit(0)
threading.Thread(target=stop, daemon=True).start()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

/**
 * TCP client: `argv = client_ip client_port server_ip server_port mode [hold_s]`, bound to a
 * fixed source port. Modes: `server-rst` (asks the server to reset, waits for it), `client-rst`
 * (one exchange, then an abortive close of its own), `hold` (one exchange, then idle for
 * hold_s and a normal close), `handshake` (no data: connect, idle hold_s, normal close).
 * Prints `done <what happened>`.
 */
export const CLIENT_PY = `
import socket, struct, sys, time
cip, cport, sip, sport, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
hold = float(sys.argv[6]) if len(sys.argv) > 6 else 0
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((cip, cport))
s.settimeout(10)
s.connect((sip, sport))
if mode == "server-rst":
    s.sendall(b"RST please\\n")
    got = b""
    try:
        while True:
            d = s.recv(100)
            if not d:
                print("done eof", got, flush=True)
                break
            got += d
    except ConnectionResetError:
        print("done reset", got, flush=True)
elif mode == "client-rst":
    s.sendall(b"hello\\n")
    got = s.recv(100)
    time.sleep(0.2)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    print("done aborted", got, flush=True)
elif mode == "hold":
    s.sendall(b"hello\\n")
    got = s.recv(100)
    time.sleep(hold)
    s.close()
    print("done held", got, flush=True)
elif mode == "handshake":
    time.sleep(hold)
    s.close()
    print("done handshake", flush=True)
`;

/**
 * Streaming server: `argv = ip port`; prints `pid <pid>` once listening. Every connection gets a
 * line every 100 ms (TCP_NODELAY, so one segment per line), at most 300 lines.
 */
export const STREAM_SERVER_PY = `
import os, socket, sys, threading, time
ip, port = sys.argv[1], int(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((ip, port))
s.listen(4)
print("pid", os.getpid(), flush=True)
def serve(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        for i in range(300):
            c.sendall(b"line %d\\n" % i)
            time.sleep(0.1)
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

/** Streaming client: `argv = client_ip client_port server_ip server_port`; reads until EOF or 20 s. */
export const STREAM_CLIENT_PY = `
import socket, sys, time
cip, cport, sip, sport = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((cip, cport))
s.settimeout(20)
s.connect((sip, sport))
print("connected", flush=True)
end = time.time() + 20
n = 0
try:
    while time.time() < end:
        d = s.recv(4096)
        if not d:
            break
        n += len(d)
except OSError:
    pass
print("done", n, flush=True)
`;

/** `argv = client_ip first_port server_ip server_port count gap_s`: `count` connects from
 *  consecutive source ports to a closed port; prints how many were refused. */
export const REFUSED_BURST_PY = `
import socket, sys, time
cip, first, sip, sport, count, gap = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
refused = 0
for i in range(count):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((cip, first + i))
    s.settimeout(3)
    try:
        s.connect((sip, sport))
    except ConnectionRefusedError:
        refused += 1
    except OSError as e:
        print("error", i, e, flush=True)
    s.close()
    time.sleep(gap)
print("refused", refused, flush=True)
`;
