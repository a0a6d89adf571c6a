/**
 * `dllt read FILE...`: each capture file (or `-` for stdin) through its own pipeline into
 * `<root>/logs/<file-basename>/`. Timers run on packet time, so a file gives the records the
 * live run that made it gave. A progress bar with packets/s on a TTY.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { basename } from 'node:path';
import { SingleBar } from 'cli-progress';
import { EndReasonCode } from '../flow/flow-engine.js';
import { CaptureFileError, readCaptureFile } from '../sources/capture-file.js';
import type { Config } from './config.js';
import { DlltError } from './errors.js';
import { RunContext } from './run-context.js';

function runName(file: string): string {
  return file === '-' ? 'stdin' : basename(file);
}

function toDlltError(err: CaptureFileError): DlltError {
  return new DlltError(err.code.includes('FORMAT') ? 'DLLT_ERR_FILE_FORMAT' : 'DLLT_ERR_FILE_NOT_FOUND', err.message);
}

/** Fails before any output exists when a file cannot be read at all. */
function checkReadable(file: string): void {
  try {
    if (statSync(file).isDirectory()) throw new DlltError('DLLT_ERR_FILE_NOT_FOUND', `${file} is a directory: give the path of a capture file`);
    accessSync(file, constants.R_OK);
  } catch (err) {
    if (err instanceof DlltError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new DlltError('DLLT_ERR_FILE_NOT_FOUND', code === 'ENOENT' ? `capture file ${file} does not exist` : `cannot read capture file ${file}: ${code ?? String(err)}`);
  }
}

export async function runRead(files: string[], config: Config): Promise<number> {
  if (config.filter !== undefined) {
    throw new DlltError('DLLT_ERR_USAGE', '--filter applies to live capture only', {
      hint: "filter a file with tcpdump and pipe it in: tcpdump -r FILE -w - 'EXPR' | dllt read -",
    });
  }
  for (const file of files) {
    if (file !== '-') checkReadable(file);
    const name = runName(file);
    const run = await RunContext.open(config, name, name);
    run.banner(`capture file ${file}`);
    const showProgress = process.stderr.isTTY === true && !config.quiet && file !== '-';
    const bar = showProgress
      ? new SingleBar({ format: ' {bar} {percentage}% | {pps} pkt/s | {packets} packets | {flows} active flows', hideCursor: true, stream: process.stderr })
      : undefined;
    const started = Date.now();
    let lastUpdate = 0;
    bar?.start(100, 0, { pps: 0, packets: 0, flows: 0 });
    try {
      await readCaptureFile(file, run.pipeline, {
        onProgress: (read, total) => {
          const now = Date.now();
          if (!bar || now - lastUpdate < 200) return;
          lastUpdate = now;
          const packets = run.pipeline.decode.packets;
          bar.update(total > 0 ? (100 * read) / total : 0, {
            packets,
            pps: Math.round(packets / Math.max((now - started) / 1000, 1e-3)),
            flows: run.pipeline.engine.activeFlows,
          });
        },
      });
    } catch (err) {
      bar?.stop();
      // A worker that could not open its files stops the reading: its error is the one to give.
      await run.filesOpen();
      await run.close();
      throw err instanceof CaptureFileError ? toDlltError(err) : err;
    }
    bar?.update(100);
    bar?.stop();
    // The records of a file read while the worker started need its files open.
    await run.filesOpen();
    run.pipeline.finish(EndReasonCode.EOF);
    run.finalReport(`read ${file}`);
    await run.close();
  }
  return 0;
}
