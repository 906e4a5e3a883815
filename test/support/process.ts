/** Child processes in tests: what they print, and waiting for a line of it. */
import type { ChildProcess } from 'node:child_process';

/** Everything the child prints to stdout and stderr, as it comes. */
export function collectOutput(child: ChildProcess): () => string {
  let out = '';
  const add = (chunk: Buffer): void => {
    out += chunk.toString('utf8');
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => out;
}

/** Resolves once `output()` holds `text`; rejects, with what was printed, if the child exits first. */
export function waitForOutput(
  child: ChildProcess,
  output: () => string,
  text: string,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const check = setInterval(() => {
      if (output().includes(text)) {
        clearInterval(check);
        resolve();
      }
    }, 50);
    child.once('exit', (code) => {
      clearInterval(check);
      reject(
        new Error(
          `the process exited with ${String(code)} before printing "${text}":\n${output()}`,
        ),
      );
    });
  });
}
