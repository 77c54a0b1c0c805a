import { main } from './main';

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `tm` with `args` in this process (a jest test), its stdout and stderr captured. */
export async function runTm(args: string[]): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const outSpy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const errSpy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    outSpy.mockRestore();
    errSpy.mockRestore();
  }
}
