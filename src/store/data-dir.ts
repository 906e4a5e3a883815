/**
 * Making DATA_DIR. Not `mkdirSync(dir, { recursive: true })`: on a path whose parent exists but
 * cannot hold it (under /proc, some FUSE mounts) Node 20's recursive mkdir retries for ever, and
 * the service hangs at start-up without a word. Here each level is made once, and a failure is
 * an error naming the directory.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** Makes `dir` and any missing parents; an existing directory is fine, a file in its place is not. */
export function makeDirectory(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (statSync(dir).isDirectory()) return;
      throw new Error(`${dir} is a file, not a directory`);
    }
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    makeDirectory(parent);
    mkdirSync(dir);
  }
}
