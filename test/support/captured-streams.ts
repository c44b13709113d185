import { PassThrough } from 'node:stream';

/**
 * Two in-memory output streams to run the CLI in-process with (`main(argv,
 * streams)`), and what was written to each so far.
 */
export function capturedStreams(): { streams: { stdout: PassThrough; stderr: PassThrough }; stdout: () => string; stderr: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return { streams: { stdout, stderr }, stdout: () => out, stderr: () => err };
}
