// A pino logger whose lines a test can read back.
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

export interface CapturedLine {
  level: number;
  msg: string;
  time: number;
  [key: string]: unknown;
}

export function capturingLogger(level = 'debug'): { log: Logger; lines: CapturedLine[] } {
  const lines: CapturedLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as CapturedLine);
      callback();
    },
  });
  return { log: pino({ level }, sink), lines };
}
