/**
 * The contract between capture sources and the pipeline. Sources parse their container
 * format and hand each packet over *in place*: `data` is the source's batch buffer (reused for
 * the next batch — copy if you keep bytes), `dv` a DataView over the same bytes, created once
 * per batch. No per-packet object is made.
 */
export interface PacketHandler {
  /**
   * One captured packet: bytes data[start, start + capLen), original length wireLen, packet
   * time tsUs (µs since the epoch), the interface's LINKTYPE_* and the source's interface id.
   */
  onPacket(
    data: Uint8Array,
    dv: DataView,
    start: number,
    capLen: number,
    wireLen: number,
    tsUs: number,
    linkType: number,
    ifaceId: number,
  ): void;
  /** A new interface appeared (pcap header, pcapng IDB, live open). */
  onInterface(ifaceId: number, linkType: number, name: string, snapLen: number): void;
  /** A container-level problem (corrupt block, bad record length): offset in the input and what
   *  the source did about it (resynced, skipped, stopped). Never thrown. */
  onSourceError(offset: number, message: string): void;
}
