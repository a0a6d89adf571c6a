/**
 * The monitored interface's life during `dllt capture` (SPEC 6, code 00011). One tcpdump runs
 * at a time, on the interface's name. The interface vanishing (a pod deleted) is noticed twice,
 * in either order: by InterfaceWatch's poll and by tcpdump exiting with "The interface
 * disappeared". It is handled once: the capture's last packets are read, every open flow ends
 * with `interface_gone`, event 00011 names the flows cut, and log_notif says what comes next.
 * Then, per DLLT_ON_VIF_GONE, the run ends (exit code EXIT_VIF_GONE), or dllt waits for an
 * interface of the same name to come back up and captures on it, writing on into the same
 * directory (named after the first index).
 *
 * Every cause (the watch, tcpdump, a signal) is queued and handled in arrival order, so a gone
 * and a back reported in one poll tick, or a tcpdump failure racing the watch, never interleave.
 */
import { InterfaceWatch, INTERFACE_WATCH_INTERVAL_MS } from '../sources/interface-watch.js';
import { readInterface } from '../sources/interfaces.js';
import type { LiveCapture, LiveCaptureFailure } from '../sources/live-capture.js';
import type { RunContext } from './run-context.js';

/** `dllt capture`'s exit code when the interface disappeared and DLLT_ON_VIF_GONE=exit: an
 *  operator's script can tell "the pod went away" from success (0) and failure (1, 2). */
export const EXIT_VIF_GONE = 3;

/** How the capture ended for good: a signal, a capture failure, or the interface gone (`exit`). */
export type CaptureEnd = 'stopped' | 'failed' | 'vif_gone';

/** Makes a capture on the interface's name; it reports through `onFatal` that it stopped. */
export type CaptureFactory = (onFatal: (message: string, code: LiveCaptureFailure) => void) => LiveCapture;

/** tcpdump can say the interface disappeared a moment before /sys stops listing it. */
const GONE_CONFIRM_MS = 1000;
const GONE_CONFIRM_STEP_MS = 50;

type State = 'capturing' | 'gone' | 'over';

function nowUs(): number {
  return Date.now() * 1000;
}

export class CaptureLifecycle {
  /** Resolves once the capture is over for good. */
  readonly ended: Promise<CaptureEnd>;
  private resolveEnded: (end: CaptureEnd) => void = () => {};
  private state: State = 'capturing';
  private capture: LiveCapture | undefined;
  private readonly watch: InterfaceWatch;
  private queue: Promise<void> = Promise.resolve();
  /** Checks again whether an interface that came back is up yet (tcpdump refuses a down one). */
  private upCheck: NodeJS.Timeout | undefined;

  /** Starts capturing on `ifname` (index `ifindex`) and watching it. */
  constructor(
    private readonly run: RunContext,
    private readonly ifname: string,
    private ifindex: number,
    private readonly newCapture: CaptureFactory,
  ) {
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    this.watch = new InterfaceWatch(ifname, ifindex, {
      onGone: () => {
        const seenUs = nowUs();
        this.enqueue(() => this.interfaceGone(seenUs));
      },
      onBack: (index) => this.enqueue(() => this.interfaceBack(index)),
    });
    this.startCapture();
  }

  /** SIGINT/SIGTERM: the run ends, whatever the interface is doing. */
  stop(): void {
    this.enqueue(() => this.end('stopped'));
  }

  /** Stops watching and capturing; resolves once tcpdump's last packets are in the pipeline. */
  async close(): Promise<void> {
    this.watch.stop();
    clearTimeout(this.upCheck);
    await this.queue;
    await this.capture?.stop();
  }

  private startCapture(): void {
    const capture = this.newCapture((message, code) => {
      const seenUs = nowUs();
      this.enqueue(() => this.captureFailed(capture, message, code, seenUs));
    });
    this.capture = capture;
    capture.start();
  }

  private async captureFailed(capture: LiveCapture, message: string, code: LiveCaptureFailure, seenUs: number): Promise<void> {
    // A capture already given up (the interface was reported gone first) has nothing to add.
    if (capture !== this.capture || this.state !== 'capturing') return;
    if (code === 'DLLT_ERR_CAPTURE_NO_INTERFACE' && (await this.vanished())) return this.interfaceGone(seenUs);
    this.run.notify('error', 'capture_failed', message);
    this.end('failed');
  }

  /** The captured interface (this name with this index) is gone, or goes within GONE_CONFIRM_MS. */
  private async vanished(): Promise<boolean> {
    const deadline = Date.now() + GONE_CONFIRM_MS;
    for (;;) {
      if (readInterface(this.ifname)?.index !== this.ifindex) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, GONE_CONFIRM_STEP_MS));
    }
  }

  private async interfaceGone(seenUs: number): Promise<void> {
    if (this.state !== 'capturing') return;
    this.state = 'gone';
    // tcpdump has ended or ends now; what it had read is in the pipeline before flows are cut.
    await this.capture?.stop();
    this.capture = undefined;
    const cut = this.run.pipeline.interfaceGone(this.ifindex, seenUs);
    const exit = this.run.config.onVifGone === 'exit';
    const next = exit
      ? `exiting with code ${EXIT_VIF_GONE} (DLLT_ON_VIF_GONE=exit)`
      : `waiting for an interface named ${this.ifname} to come back, then capturing on it into the same directory ${this.run.dir} (DLLT_ON_VIF_GONE=wait)`;
    this.run.notify('warn', 'interface_gone', `interface ${this.ifname} (index ${this.ifindex}) disappeared: ${cut} open flows ended with endReason interface_gone (event 00011 lists them); ${next}`, {
      ifindex: this.ifindex,
      cutFlowCount: cut,
    });
    if (exit) this.end('vif_gone');
  }

  private interfaceBack(index: number): void {
    if (this.state !== 'gone') return;
    const nic = readInterface(this.ifname);
    // Gone again already: the watch reports that, and the next return, in turn.
    if (nic?.index !== index) return;
    if (!nic.up) {
      clearTimeout(this.upCheck);
      this.upCheck = setTimeout(() => this.enqueue(() => this.interfaceBack(index)), INTERFACE_WATCH_INTERVAL_MS);
      return;
    }
    this.state = 'capturing';
    this.ifindex = index;
    this.run.notify('info', 'interface_back', `interface ${this.ifname} is back (index ${index}) and up: capturing on it again into ${this.run.dir}`, { ifindex: index });
    this.startCapture();
  }

  private end(how: CaptureEnd): void {
    if (this.state === 'over') return;
    this.state = 'over';
    clearTimeout(this.upCheck);
    this.resolveEnded(how);
  }

  private enqueue(step: () => void | Promise<void>): void {
    this.queue = this.queue.then(step).catch((err: unknown) => {
      this.run.notify('error', 'capture_failed', `handling a change of interface ${this.ifname} failed: ${err instanceof Error ? err.message : String(err)}`);
      this.end('failed');
    });
  }
}
