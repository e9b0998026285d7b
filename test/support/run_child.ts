/**
 * A child process run to its end with stdin closed: its exit code (or the signal that ended it) and
 * everything it printed; killed where it outlives `timeoutMs`, when given.
 */
import { spawn } from 'node:child_process';

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ChildOptions {
  env?: NodeJS.ProcessEnv;
  /** Milliseconds after which the child is killed (SIGKILL); its result then says so. */
  timeoutMs?: number;
}

export function runChild(command: string, args: string[], cwd: string, { env, timeoutMs }: ChildOptions = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env });
    let stdout = '', stderr = '';
    const timer = timeoutMs == null ? null : setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end();
  });
}

/** What a failed child printed last, for an assertion's message. */
export function childFailure({ code, signal, stdout, stderr }: ChildResult): string {
  return `${signal == null ? `exit code ${code}` : `killed by ${signal}`}:\n${stdout.slice(-4000)}\n${stderr.slice(-4000)}`;
}
